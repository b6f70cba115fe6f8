import { resolve } from 'node:path';
import type { DemoFleet } from '../agent/demo.ts';
import { loadConfig } from './config.ts';
import { buildApp } from './app.ts';
import { issueServiceToken } from './domain/auth.ts';
import { gracefulShutdown } from './shutdown.ts';

const config = loadConfig();
const app = await buildApp(config);
const port = await app.start();
let demo: DemoFleet | null = null;

const shutDown = gracefulShutdown({
  logger: app.logger,
  stop: async () => {
    await demo?.stop();
    await app.stop();
  },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, shutDown);

// The simulated demo fleet connects to this server as real agents would, over the public API.
// On by default, so `npm start` shows a live console; PASSTHRU_DEMO=off disables it.
if (config.demo) {
  try {
    const { startDemoFleet } = await import('../agent/demo.ts');
    const { token } = await issueServiceToken(app.database.db, 'demo-fleet');
    demo = await startDemoFleet({
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
  }
}
