// passthru: the operator's command line for a Passthru server. `passthru --help` for the commands.

import { Api } from './api.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import { deviceCommands } from './commands/devices.ts';
import { hostCommands } from './commands/hosts.ts';
import { operationCommands } from './commands/operations.ts';
import { planCommands } from './commands/plans.ts';
import { sessionCommands } from './commands/session.ts';
import { vmCommands } from './commands/vms.ts';
import { watchCommands } from './commands/watch.ts';
import { completionScript, SHELLS } from './completion.ts';
import { configPath, readConfig, resolveConnection } from './config.ts';
import { CliError, EXIT, UsageError, type ExitCode } from './exit-codes.ts';
import { commandHelp, mainHelp } from './help.ts';
import { parse, unknownOptions } from './options.ts';
import { json } from './output.ts';

const completionCommand: CommandSpec = {
  name: 'completion',
  usage: SHELLS.join('|'),
  summary: 'Print the shell completion script (source <(passthru completion bash)).',
  options: [],
  words: SHELLS,
  run: async (context) => {
    const [shell, ...rest] = context.args.positionals;
    const known = SHELLS.find((name) => name === shell);
    if (!known || rest.length) throw new UsageError(`passthru completion takes one shell: ${SHELLS.join(' or ')}`);
    context.print(completionScript(known, COMMANDS).trimEnd());
  },
};

const COMMANDS: CommandSpec[] = [
  ...sessionCommands,
  ...hostCommands,
  ...deviceCommands,
  ...vmCommands,
  ...planCommands,
  ...operationCommands,
  ...watchCommands,
  completionCommand,
];

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
};

/** Runs one command line; resolves to the exit status (never throws for an expected failure). */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: Io = processIo): Promise<ExitCode> {
  let jsonOutput = argv.includes('--json');
  // Opened by the first command that needs it, closed whatever happens.
  const opened: { api: Api | null } = { api: null };
  try {
    const args = parse(argv);
    jsonOutput = args.flags.json === true;
    const [name, ...positionals] = args.positionals;
    if (!name || name === 'help') {
      const topic = COMMANDS.find((c) => c.name === positionals[0]);
      io.stdout((topic ? commandHelp(topic) : mainHelp(COMMANDS)).trimEnd());
      return name || args.flags.help ? EXIT.ok : EXIT.usage;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}"; the commands are: ${COMMANDS.map((c) => c.name).join(', ')}`);
    if (args.flags.help) {
      io.stdout(commandHelp(command).trimEnd());
      return EXIT.ok;
    }
    const stray = unknownOptions(args, command.options);
    if (stray.length) throw new UsageError(`passthru ${name} does not take ${stray.map((o) => `--${o}`).join(', ')}; see passthru ${name} --help`);
    const configFile = configPath(env);
    const connection = resolveConnection({ server: args.strings.server }, env, readConfig(configFile));
    const context: CommandContext = {
      args: { ...args, positionals },
      json: jsonOutput,
      connection,
      env,
      configFile,
      api: () => {
        if (!connection.token) throw new CliError(`not logged in to ${connection.server}: run passthru login, or set PASSTHRU_TOKEN`, EXIT.auth);
        opened.api ??= new Api(connection.server, connection.token);
        return opened.api;
      },
      print: io.stdout,
      note: io.stderr,
    };
    await command.run(context);
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    io.stderr(jsonOutput ? json({ error: { message: error.message, type: error.typename, exitCode: error.exitCode } }, false) : `passthru: ${error.message}`);
    return error.exitCode;
  } finally {
    await opened.api?.close();
  }
}
