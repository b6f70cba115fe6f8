import type { CommandSpec } from './command.ts';
import { EXIT } from './exit-codes.ts';
import { GLOBAL_OPTIONS, optionSpec, type OptionName } from './options.ts';

const EXIT_HELP: Record<keyof typeof EXIT, string> = {
  ok: 'done',
  failed: 'any other failure',
  usage: 'bad usage, or input the server found malformed (ValidationError)',
  auth: 'no token, a refused token, a role too low, a failed sign-in',
  notFound: 'a name or ID that names nothing',
  conflict: 'the state forbids it (InvalidTransitionError, DeviceInUseError, VmBusyError...)',
  unavailable: 'not now: the host is offline or busy, or no capacity',
  unreachable: 'the server could not be reached',
  operationFailed: 'the host agent reported the operation failed',
};

const keysOf = <Table extends object>(table: Table) => Object.keys(table).filter((key): key is Extract<keyof Table, string> => key in table);

function optionLines(names: readonly OptionName[]): string[] {
  const left = (name: OptionName) => {
    const spec = optionSpec(name);
    return `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`;
  };
  const width = Math.max(...names.map((name) => left(name).length));
  return names.map((name) => `  ${left(name).padEnd(width)}  ${optionSpec(name).help}`);
}

export function mainHelp(commands: CommandSpec[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const exitWidth = Math.max(...Object.values(EXIT).map((code) => String(code).length));
  return `passthru: the Passthru operator CLI (devices, VMs, plans and operations on a Passthru server).

Usage: passthru <command> [options]    passthru <command> --help for its options

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Options of every command:
${optionLines(GLOBAL_OPTIONS).join('\n')}

The token comes from PASSTHRU_TOKEN, else from the config file \`passthru login\` writes
($PASSTHRU_CONFIG, else $XDG_CONFIG_HOME/passthru/config.json, else ~/.config/passthru/config.json).
Hosts, VMs, plans and clusters may be named by name or by ID; devices by ID or HOST/ADDRESS.

Exit status:
${keysOf(EXIT_HELP).map((key) => `  ${String(EXIT[key]).padStart(exitWidth)}  ${EXIT_HELP[key]}`).join('\n')}
`;
}

export function commandHelp(command: CommandSpec): string {
  return `Usage: passthru ${command.name}${command.usage ? ` ${command.usage}` : ''} [options]

${command.summary}

Options:
${optionLines([...command.options, ...GLOBAL_OPTIONS]).join('\n')}
`;
}
