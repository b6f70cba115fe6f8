// How the agent names what went wrong: one text for anything thrown or closed, and the error
// that ends the agent.

/** The server refuses this agent for good: a wrong or rotated token, or a deleted host. */
export class AgentFatalError extends Error {
  override name = 'AgentFatalError';
}

/** The text of anything thrown or handed to an error callback: an Error, a close event, a list of GraphQL errors. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (Array.isArray(error)) return error.map(errorMessage).join('; ');
  if (error && typeof error === 'object') {
    if ('message' in error && typeof error.message === 'string') return error.message;
    if ('code' in error && typeof error.code === 'number') {
      const reason = 'reason' in error && error.reason ? `: ${String(error.reason)}` : '';
      return `connection closed (${error.code}${reason})`;
    }
  }
  return String(error);
}
