import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';

/** All of stdin, trimmed: a password or token piped in (`--password-stdin`, `--token-stdin`). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** Asks on the terminal (stderr, so stdout stays clean); a `secret` answer is not echoed. */
export async function ask(question: string, secret = false): Promise<string> {
  // readline echoes what is typed through its output; a secret's output is muted after the question.
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const terminal = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const answer = terminal.question(question);
    muted = secret;
    const value = await answer;
    if (secret) process.stderr.write('\n');
    return secret ? value : value.trim();
  } finally {
    terminal.close();
  }
}
