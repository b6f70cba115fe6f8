import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { createLogger } from '../../server/logger.ts';
import { repoRoot } from '../../bench/support/processes.ts';
import { createTestDatabase } from '../support/database.ts';
import { sessionClient } from '../support/server.ts';

const fixture = 'tests/service/fixtures/log-one-line.ts';

/** Everything written to it, as text. */
class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

describe('logs a person can read', () => {
  it('stdout gets JSON lines, each with a message, when it is not a terminal', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', fixture], { cwd: repoRoot, encoding: 'utf8' });
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 30, port: 4000, msg: 'one line from the server logger' });
  });

  it('stdout gets pretty, coloured lines when it is a terminal', () => {
    // script(1) runs the command on a pseudo-terminal: stdout.isTTY is true there.
    const run = spawnSync('script', ['-qec', `${process.execPath} --import tsx ${fixture}`, '/dev/null'], { cwd: repoRoot, encoding: 'utf8' });
    expect(run.status).toBe(0);
    const line = run.stdout.trim();
    expect(line).toContain('one line from the server logger');
    expect(line).toMatch(/\u001b\[\d+mINFO/);
    expect(line.startsWith('{')).toBe(false);
  });

  it('the generated first admin password is shown once, in a box on stderr, and never in a log line', async () => {
    const database = await createTestDatabase();
    try {
      // A fresh database: no users yet, no password configured.
      const config = { ...loadConfig({}), databaseUrl: database.databaseUrl, dataDir: database.dataDir, adminPassword: undefined };
      const notices = new Capture();
      const log = new Capture();
      const app = await buildApp(config, { logger: createLogger('info', log), notices });
      const port = await app.start(0);
      const password = /password {2}(\S+)/.exec(notices.text)?.[1] ?? '';
      try {
        expect(notices.text).toMatch(/^┏━+┓\n(┃ .* ┃\n)+┗━+┛\n$/);
        expect(notices.text).toContain('username  admin');
        expect(password).toMatch(/^\S{16,}$/);
        expect(log.text).not.toContain(password);
        const lines = log.text.trim().split('\n').map((line) => JSON.parse(line));
        expect(lines).toContainEqual(expect.objectContaining({ level: 30, msg: expect.stringContaining('Created the first admin "admin"') }));
        // The password in the box is the admin's.
        await sessionClient(`http://127.0.0.1:${port}`, { username: 'admin', password });
      } finally {
        await app.stop();
      }
      // The next start finds the admin and prints nothing.
      const again = new Capture();
      const restarted = await buildApp(config, { logger: createLogger('silent'), notices: again });
      await restarted.stop();
      expect(again.text).toBe('');
    } finally {
      await database.drop();
    }
  });
});
