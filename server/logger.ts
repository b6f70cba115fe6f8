import { pino, type DestinationStream, type LoggerOptions } from 'pino';

/** drizzle's DrizzleQueryError says "Failed query: <sql>\nparams: <values>"; values can be token hashes. */
const QUERY_PARAMETERS = /\nparams: [\s\S]*?(?=\n\s+at |$)/;

/** An error as pino serializes it, with a failed query's SQL kept and its parameters left out. */
function errorWithoutQueryParameters(error: Error) {
  const { params: _params, ...serialized } = pino.stdSerializers.err(error);
  return {
    ...serialized,
    message: serialized.message.replace(QUERY_PARAMETERS, ''),
    ...(serialized.stack ? { stack: serialized.stack.replace(QUERY_PARAMETERS, '') } : {}),
  };
}

/** Logs JSON lines to stdout, or to `destination`. */
export function createLogger(level: string, destination?: DestinationStream) {
  const options: LoggerOptions = {
    level,
    // Tokens travel in these headers and connection params; they never reach the logs.
    redact: ['req.headers.authorization', 'authorization', 'token', '*.token'],
    serializers: { err: errorWithoutQueryParameters },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type Logger = ReturnType<typeof createLogger>;
