import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/**
 * The address a request came from: the socket's peer, or, when that peer is one of the proxies
 * PASSTHRU_TRUSTED_PROXIES names (proxy-addr's syntax: loopback, 10.0.0.0/8, ...), the address
 * it forwarded in X-Forwarded-For. An untrusted peer's X-Forwarded-For is ignored.
 */
export function clientAddressOf(trustedProxies: readonly string[]): (req: IncomingMessage | undefined) => string {
  const trust = proxyaddr.compile([...trustedProxies]);
  return (req) => (req?.socket.remoteAddress ? proxyaddr(req, trust) : 'unknown');
}
