import type { Api } from './api.ts';
import type { Connection } from './config.ts';
import type { OptionName, ParsedArgs } from './options.ts';

/** What a command runs with: its arguments, the connection, and where it writes. */
export interface CommandContext {
  args: ParsedArgs;
  json: boolean;
  connection: Connection;
  env: NodeJS.ProcessEnv;
  /** The config file `login` writes. */
  configFile: string;
  /** The API as the stored or given token; an auth error when there is none. */
  api(): Api;
  /** One document, line or table on stdout. */
  print(text: string): void;
  /** Progress and notes for people, on stderr, so stdout stays parseable. */
  note(text: string): void;
}

export interface CommandSpec {
  name: string;
  /** Positional arguments in --help, e.g. `<device>`. */
  usage: string;
  summary: string;
  options: readonly OptionName[];
  /** Completes the positionals with these words (e.g. `watch` topics). */
  words?: readonly string[];
  /** Values an option takes with this command, where they differ by command (`--status`). */
  choices?: Partial<Record<OptionName, readonly string[]>>;
  run(context: CommandContext): Promise<void>;
}
