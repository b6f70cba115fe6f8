// The slice of pino's interface the backend logs through; the agent passes its own logger.

export interface BackendLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const silentLogger: BackendLogger = {
  info: () => {},
  warn: () => {},
  error: () => {},
};
