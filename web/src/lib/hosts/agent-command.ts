/** The command that starts a host's agent against this server with its token. */
export function agentCommand(origin: string, token: string): string {
  return `passthru-agent --server ${origin} --token ${token}`;
}
