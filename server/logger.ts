import { pino, type DestinationStream, type LoggerOptions, type TransportSingleOptions } from 'pino';

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

/**
 * How stdout's lines are written: for a person at a terminal, coloured one-line messages
 * (pino-pretty, in a worker thread); otherwise JSON lines, one per event, for journald,
 * `docker logs` and log collectors to parse.
 */
export function stdoutTransport(stdoutIsTerminal: boolean): TransportSingleOptions | undefined {
  if (!stdoutIsTerminal) return undefined;
  return { target: 'pino-pretty', options: { colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } };
}

/** Logs to `destination`, or to stdout: pretty on a terminal, JSON lines otherwise (stdoutTransport). */
export function createLogger(level: string, destination?: DestinationStream) {
  const options: LoggerOptions = {
    level,
    // Tokens travel in these headers and connection params; they never reach the logs.
    redact: ['req.headers.authorization', 'authorization', 'token', '*.token'],
    serializers: { err: errorWithoutQueryParameters },
  };
  if (destination) return pino(options, destination);
  const transport = stdoutTransport(process.stdout.isTTY === true);
  return pino(transport ? { ...options, transport } : options);
}

export type Logger = ReturnType<typeof createLogger>;
