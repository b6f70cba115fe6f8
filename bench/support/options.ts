// Bench parameters from argv (`--name value`, `--name=value`) or the environment.
const argv = process.argv.slice(2);

function fromArgv(name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i]!.startsWith(`--${name}=`)) return argv[i]!.slice(name.length + 3);
  }
  return undefined;
}

/** A positive number from `--name`, else the environment variable `env`, else `fallback`. */
export function option(name: string, env: string, fallback: number): number {
  const raw = fromArgv(name) ?? process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} (or ${env}) must be a positive number, got "${raw}"`);
  return value;
}

export function list(name: string, env: string, fallback: number[]): number[] {
  const raw = fromArgv(name) ?? process.env[env];
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((part) => {
    const value = Number(part.replace(/_/g, ''));
    if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} (or ${env}) must be positive integers separated by commas, got "${raw}"`);
    return value;
  });
}

export function flag(name: string): boolean {
  return argv.includes(`--${name}`);
}

/** A text value from `--name value` or `--name=value`, if given. */
export function textOption(name: string): string | undefined {
  return fromArgv(name);
}
