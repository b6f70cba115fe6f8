// `npm run demo`: the server with a demo fleet of simulated hosts beside it, in one process, for
// trying Passthru on one machine. The fleet's agents are the real agent code on the simulated
// backend, connected over the public API; the production server (server/main.ts, `npm start`)
// never loads agent code.
import { resolve } from 'node:path';
import { startDemoFleet, type DemoFleet } from '../agent/demo.ts';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { issueServiceToken, revokeApiToken } from '../server/domain/auth.ts';
import { gracefulShutdown } from '../server/shutdown.ts';
import { ensureWebBuild } from '../web/scripts/ensure-build.ts';

ensureWebBuild();
const config = loadConfig();
const app = await buildApp(config);
const port = await app.start();
let fleet: DemoFleet | null = null;

const shutDown = gracefulShutdown({
  logger: app.logger,
  stop: async () => {
    await fleet?.stop();
    await app.stop();
  },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, shutDown);

// The fleet needs an admin only to set itself up (cluster, plans, host tokens); its agents then
// use their host tokens. So the admin token lives only for the setup.
const { apiToken, token } = await issueServiceToken(app.database.db, 'demo-fleet');
try {
  fleet = await startDemoFleet({
    serverUrl: `http://127.0.0.1:${port}`,
    adminToken: token,
    logger: app.logger.child({ component: 'demo' }),
    // Beside the embedded database, so simulated VMs and bindings survive a restart.
    stateDir: resolve(config.dataDir, '..', 'demo-hosts'),
  });
  app.logger.info(
    `Demo fleet running. Open http://localhost:${port} and sign in as "${config.adminUsername}" with the password printed in a box on the first start (or set PASSTHRU_ADMIN_PASSWORD before the first start).`,
  );
} catch (error) {
  app.logger.error({ err: error }, 'demo fleet did not start; the server runs without it');
} finally {
  await revokeApiToken(app.database.db, { id: apiToken.userId, role: apiToken.role }, apiToken.id);
}
