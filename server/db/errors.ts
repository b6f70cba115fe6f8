type DriverError = { code?: string; constraint_name?: string; constraint?: string };

/** The driver error drizzle wraps, or the error itself. */
function driverError(error: unknown): DriverError | undefined {
  return ((error as { cause?: unknown })?.cause ?? error) as DriverError | undefined;
}

/** A deadlock or serialization failure: Postgres rolled the transaction back, and running it again is safe. */
export function isRetryableConflict(error: unknown): boolean {
  const code = driverError(error)?.code;
  return code === '40P01' || code === '40001';
}

/** True when `error` (or the driver error drizzle wraps) is a unique violation, of `constraint` if named. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const cause = driverError(error);
  if (cause?.code !== '23505') return false;
  return constraint === undefined || (cause.constraint_name ?? cause.constraint) === constraint;
}
