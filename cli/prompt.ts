import { createInterface } from 'node:readline/promises';

/** All of stdin, trimmed: a password or token piped in (`--password-stdin`, `--token-stdin`). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** Asks on the terminal (stderr, so stdout stays clean); `secret` answers are not echoed. */
export async function ask(question: string, secret = false): Promise<string> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (secret) {
    // readline echoes what it reads through its output; after the question, echo nothing.
    const write = process.stderr.write.bind(process.stderr);
    let asked = false;
    Object.assign(terminal, {
      _writeToOutput: (text: string) => {
        if (!asked) write(text);
      },
    });
    const answer = terminal.question(question);
    asked = true;
    const value = await answer;
    write('\n');
    terminal.close();
    return value;
  }
  const value = await terminal.question(question);
  terminal.close();
  return value.trim();
}
