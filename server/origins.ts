import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/**
 * Which browser pages may call the API with the caller's cookie: the server's own origin, and
 * those PASSTHRU_ALLOWED_ORIGINS names. A request without an Origin header is no browser page's
 * (curl, agents, automation) and carries only the credentials it sends itself.
 */
export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;

  constructor(allowed: readonly string[]) {
    this.#allowed = new Set(allowed);
  }

  /** Whether a page of `origin` may act on the caller's behalf against this server (`host`: the request's Host). */
  allows(origin: string | null | undefined, host: string | null | undefined): boolean {
    if (origin === null || origin === undefined) return true;
    if (this.#allowed.has(origin)) return true;
    return URL.canParse(origin) && host !== null && host !== undefined && new URL(origin).host === host;
  }

  /** Yoga's CORS answer: the origin itself, with credentials, for another allowed origin; nothing for the rest. */
  cors(request: Request): { origin: string[]; credentials: true } | false {
    const origin = request.headers.get('origin');
    return origin !== null && this.#allowed.has(origin) ? { origin: [origin], credentials: true } : false;
  }
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Security headers for every response (helmet): the console may load only its own scripts,
 * styles, images and connections and be framed by nobody; nothing is sniffed or referred.
 * HSTS only when cookies are Secure, i.e. the server is reached over HTTPS.
 */
export function securityHeaders(options: { https: boolean; graphiql: boolean }): { console: Middleware; api: Middleware } {
  const common = {
    xFrameOptions: { action: 'deny' as const },
    referrerPolicy: { policy: 'no-referrer' as const },
    strictTransportSecurity: options.https ? { maxAge: 180 * 24 * 60 * 60, includeSubDomains: true } : false,
  };
  return {
    console: helmet({
      ...common,
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // Svelte sets style attributes on elements.
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          ...(options.https ? { upgradeInsecureRequests: [] } : {}),
        },
      },
    }),
    // The API answers JSON, which loads nothing; GraphiQL (development) loads from a CDN, so with it on the API is only kept out of frames.
    api: helmet({
      ...common,
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: options.graphiql ? helmet.contentSecurityPolicy.dangerouslyDisableDefaultSrc : ["'none'"],
          frameAncestors: ["'none'"],
        },
      },
    }),
  };
}
