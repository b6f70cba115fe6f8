import type { introspection_types } from '../protocol/graphql-env.d.ts';

/** What a `passthru` exit status means; scripts branch on these (README, "Command-line client"). */
export const EXIT = {
  ok: 0,
  /** Anything else: an unexpected server error, a response the CLI does not understand. */
  failed: 1,
  /** Bad arguments or options, or an input the server found malformed. */
  usage: 2,
  /** No token, a token the server refused, a role too low, a failed sign-in. */
  auth: 3,
  /** A name or ID that names nothing. */
  notFound: 4,
  /** The state forbids it: an illegal device transition, a busy VM, a device in use, a plan in use. */
  conflict: 5,
  /** Not now, maybe later: the host is offline or busy, or no host has the capacity. */
  unavailable: 6,
  /** The server could not be reached. */
  unreachable: 7,
  /** The operation was queued but the host agent reported it failed (or it timed out). */
  operationFailed: 8,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Every typed error a mutation can answer with, from schema.graphql: a new one fails tsc until it is mapped here. */
export type ErrorTypename = introspection_types['Error']['possibleTypes'];

/** The one table from a refusal's __typename to the exit status it ends the command with. */
export const EXIT_BY_ERROR = {
  ValidationError: EXIT.usage,
  NotAuthorizedError: EXIT.auth,
  TooManyAttemptsError: EXIT.auth,
  NotFoundError: EXIT.notFound,
  InvalidTransitionError: EXIT.conflict,
  DeviceInUseError: EXIT.conflict,
  IommuGroupInUseError: EXIT.conflict,
  IommuGroupMembersError: EXIT.conflict,
  WrongHostError: EXIT.conflict,
  VmBusyError: EXIT.conflict,
  PlanInUseError: EXIT.conflict,
  OperationFinishedError: EXIT.conflict,
  HostOfflineError: EXIT.unavailable,
  HostBusyError: EXIT.unavailable,
  NoCapacityError: EXIT.unavailable,
} satisfies Record<ErrorTypename, ExitCode>;

/** A failure the CLI reports in one line on stderr (or as JSON with --json) and exits with. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** The server's error type, when the server refused. */
    readonly typename: string | null = null,
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

function isErrorTypename(typename: string): typename is ErrorTypename {
  return Object.hasOwn(EXIT_BY_ERROR, typename);
}

/** The exit status for an error type name (a union member, or the code of an error the server threw). */
export function exitOf(typename: string): ExitCode {
  return isErrorTypename(typename) ? EXIT_BY_ERROR[typename] : EXIT.failed;
}

/** The success member of a mutation's answer, or a CliError carrying the refusal's message and exit status. */
export function successOf<Answer extends { __typename: string }, Typename extends Answer['__typename']>(
  answer: Answer,
  success: Typename,
): Extract<Answer, { __typename: Typename }> {
  if (isMember(answer, success)) return answer;
  const message = 'message' in answer && typeof answer.message === 'string' ? answer.message : `refused with ${answer.__typename}`;
  throw new CliError(message, exitOf(answer.__typename), answer.__typename);
}

function isMember<Answer extends { __typename: string }, Typename extends string>(answer: Answer, typename: Typename): answer is Extract<Answer, { __typename: Typename }> {
  return answer.__typename === typename;
}
