import { loadConfig } from './config.ts';
import { buildApp } from './app.ts';
import { gracefulShutdown } from './shutdown.ts';

const config = loadConfig();
const app = await buildApp(config);
await app.start();

const shutDown = gracefulShutdown({ logger: app.logger, stop: () => app.stop() });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, shutDown);
