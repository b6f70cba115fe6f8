/** True when `error` (or the driver error drizzle wraps) is a unique violation, of `constraint` if named. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const cause = ((error as { cause?: unknown })?.cause ?? error) as { code?: string; constraint_name?: string; constraint?: string };
  if (cause?.code !== '23505') return false;
  return constraint === undefined || (cause.constraint_name ?? cause.constraint) === constraint;
}
