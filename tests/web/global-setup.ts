import { ensureWebBuild } from '../../web/scripts/ensure-build.ts';

/** The browser tests drive the built console that the server serves: build it once, only if stale. */
export default function setup() {
  ensureWebBuild({ quiet: true });
}
