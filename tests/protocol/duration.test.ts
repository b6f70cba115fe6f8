import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../agent/cli.ts';
import { parseDuration } from '../../protocol/duration.ts';
import { loadConfig } from '../../server/config.ts';

// One syntax, one parser: the agent's options and the server's settings read durations alike.
describe('durations', () => {
  it('are read the same by the agent and the server', () => {
    for (const [text, ms] of [['250ms', 250], ['90s', 90_000], ['5m', 300_000], ['1m30s', 90_000], ['2', 2_000]] as const) {
      expect(parseDuration(text)).toBe(ms);
      const agent = parseCommand(['--server', 'http://x:1', '--token', 't', '--grace', text]);
      expect(agent).toMatchObject({ graceMs: ms });
      expect(loadConfig({ PASSTHRU_OPERATION_TIMEOUT: text }).operationTimeoutMs).toBe(ms);
    }
  });

  it('the server takes each of its durations under its name without a unit suffix, with its default', () => {
    const config = loadConfig({
      PASSTHRU_OPERATION_QUEUE_TIMEOUT: '10m',
      PASSTHRU_STATEMENT_TIMEOUT: '45s',
      PASSTHRU_HEARTBEAT_TIMEOUT: '1m',
      PASSTHRU_AGENT_DISCONNECT_GRACE: '500ms',
      PASSTHRU_HEARTBEAT_FLUSH_INTERVAL: '3s',
      PASSTHRU_SWEEP_INTERVAL: '2s',
      PASSTHRU_CONSOLE_AGENT_ANSWER_TIMEOUT: '20s',
      PASSTHRU_CHANGE_POLL_INTERVAL: '4s',
      PASSTHRU_CHANGE_LOG_RETENTION: '48h',
    });
    expect(config).toMatchObject({
      operationQueueTimeoutMs: 600_000,
      statementTimeoutMs: 45_000,
      heartbeatTimeoutMs: 60_000,
      agentDisconnectGraceMs: 500,
      heartbeatFlushIntervalMs: 3_000,
      sweepIntervalMs: 2_000,
      consoleAgentAnswerMs: 20_000,
      changePollMs: 4_000,
      changeLogMaxAgeMs: 48 * 3_600_000,
    });
    expect(loadConfig({})).toMatchObject({ operationTimeoutMs: 60_000, operationQueueTimeoutMs: 300_000, changeLogMaxAgeMs: 24 * 3_600_000 });
  });

  it('a bad one is refused naming the setting and how to write it', () => {
    expect(() => loadConfig({ PASSTHRU_HEARTBEAT_TIMEOUT: 'soon' })).toThrow('PASSTHRU_HEARTBEAT_TIMEOUT "soon" is not a duration; write it like 500ms, 10s, 5m or 1h');
    expect(() => loadConfig({ PASSTHRU_SWEEP_INTERVAL: '0s' })).toThrow('PASSTHRU_SWEEP_INTERVAL must be a duration longer than 0, got "0s"');
    expect(() => parseCommand(['--server', 'http://x:1', '--token', 't', '--grace', '10 s'])).toThrow('--grace "10 s" is not a duration; write it like 500ms, 10s, 5m or 1h');
  });
});
