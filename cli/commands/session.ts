import { hostname } from 'node:os';
import { CreateApiToken, Me, RevokeApiToken, SignIn, SignOut } from '../../protocol/commands.ts';
import { Api } from '../api.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { readConfig, writeConfig } from '../config.ts';
import { CliError, EXIT, successOf, UsageError } from '../exit-codes.ts';
import { json, table } from '../output.ts';
import { ask, readStdin } from '../prompt.ts';

/** Signs in with a password, mints an API token of the user's role for this machine, and ends the session. */
async function mintToken(context: CommandContext, username: string, password: string) {
  const session = new Api(context.connection.server, null);
  const { signIn } = await session.request(SignIn, { username, password });
  const { user } = successOf(signIn, 'SignInSuccess');
  try {
    const { createApiToken } = await session.request(CreateApiToken, { name: `passthru-cli@${hostname()}`.slice(0, 64), role: user.role });
    const created = successOf(createApiToken, 'CreateApiTokenSuccess');
    return { token: created.token, tokenId: created.apiToken.id };
  } finally {
    await session.request(SignOut).catch(() => {});
  }
}

async function credentials(context: CommandContext): Promise<{ username: string; password: string }> {
  const interactive = process.stdin.isTTY === true;
  const username = context.args.strings.username ?? (interactive ? await ask('Username: ') : '');
  if (!username) throw new UsageError('passthru login needs --username USER (or --token-stdin); there is no terminal to ask on');
  if (context.args.flags['password-stdin']) return { username, password: await readStdin() };
  if (!interactive) throw new UsageError('passthru login --username needs --password-stdin when stdin is not a terminal');
  return { username, password: await ask('Password: ', true) };
}

async function login(context: CommandContext): Promise<void> {
  if (context.args.positionals.length > 0) throw new UsageError('passthru login takes no arguments');
  let stored: { token: string; tokenId?: string };
  if (context.args.flags['token-stdin']) {
    if (context.args.strings.username) throw new UsageError('pass either --token-stdin or --username, not both');
    const token = await readStdin();
    if (!token) throw new UsageError('--token-stdin read an empty token');
    stored = { token };
  } else {
    const { username, password } = await credentials(context);
    stored = await mintToken(context, username, password);
  }
  // Checked before it is stored, so a mistyped token is not kept.
  const { me } = await new Api(context.connection.server, stored.token).request(Me);
  if (!me) throw new CliError('the server does not accept that token', EXIT.auth);
  writeConfig(context.configFile, { ...readConfig(context.configFile), server: context.connection.server, ...stored });
  if (context.json) context.print(json({ server: context.connection.server, username: me.username, role: me.role, configFile: context.configFile }));
  else context.print(`Logged in to ${context.connection.server} as ${me.username} (${me.role}); the token is in ${context.configFile}`);
}

async function logout(context: CommandContext): Promise<void> {
  const { token, tokenId, ...rest } = readConfig(context.configFile);
  if (!token) {
    context.note(`not logged in (no token in ${context.configFile})`);
    return;
  }
  // A token login minted is revoked; one stored with --token-stdin belongs to whoever made it.
  let revoked = false;
  if (tokenId) {
    const { revokeApiToken } = await new Api(rest.server ?? context.connection.server, token).request(RevokeApiToken, { tokenId });
    revoked = revokeApiToken.__typename === 'ApiToken';
    if (!revoked && 'message' in revokeApiToken) context.note(`the server did not revoke the token: ${revokeApiToken.message}`);
  }
  writeConfig(context.configFile, rest);
  if (context.json) context.print(json({ loggedOut: true, revoked }));
  else context.print(revoked ? 'Logged out; the token is revoked' : `Logged out; the token is removed from ${context.configFile}`);
}

async function whoami(context: CommandContext): Promise<void> {
  const { me } = await context.api().request(Me);
  if (!me) throw new CliError('the server does not accept the token; run passthru login', EXIT.auth);
  if (context.json) context.print(json({ server: context.connection.server, ...me }));
  else context.print(table(['SERVER', 'USER', 'ROLE'], [[context.connection.server, me.username, me.role]]));
}

export const sessionCommands: CommandSpec[] = [
  {
    name: 'login',
    usage: '[--username USER [--password-stdin] | --token-stdin]',
    summary: 'Sign in and store an API token for this machine (in the config file, mode 0600).',
    options: ['username', 'password-stdin', 'token-stdin'],
    run: login,
  },
  { name: 'logout', usage: '', summary: 'Revoke the token login minted and forget it.', options: [], run: logout },
  { name: 'whoami', usage: '', summary: 'Who the stored or given token acts for.', options: [], run: whoami },
];
