// A stand-in for virsh in the linux backend's tests, configured by the directory in
// FAKE_VIRSH_STATE. Every call is logged to calls.jsonl (argv, the content of XML file
// arguments, LC_ALL). A call whose command has an entry in responses.json gets that answer;
// any other call goes to the real virsh on libvirt's test driver.
//
// Each `virsh -c test:///default` process starts a fresh in-memory host, so to keep state
// across calls the fake replays every earlier state-changing command that succeeded in the
// same virsh invocation (`cmd1; cmd2; echo MARK; current`) and prints what follows MARK.

import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const stateDir = process.env.FAKE_VIRSH_STATE;
const argv = process.argv.slice(2);
const args = argv[0] === '-c' ? argv.slice(2) : argv;
const isFile = (arg) => arg.startsWith('/') && existsSync(arg) && statSync(arg).isFile();

appendFileSync(
  join(stateDir, 'calls.jsonl'),
  `${JSON.stringify({ argv, files: args.filter(isFile).map((file) => readFileSync(file, 'utf8')), lcAll: process.env.LC_ALL })}\n`,
);

const responsesFile = join(stateDir, 'responses.json');
const responses = existsSync(responsesFile) ? JSON.parse(readFileSync(responsesFile, 'utf8')) : {};
const key = args.map((arg) => (isFile(arg) ? 'FILE' : arg)).join(' ');
const scripted = responses[key] ?? responses[args[0]];
if (scripted) {
  process.stdout.write(scripted.stdout ?? '');
  process.stderr.write(scripted.stderr ?? '');
  process.exit(scripted.code ?? 0);
}

const historyFile = join(stateDir, 'history.json');
const history = existsSync(historyFile) ? JSON.parse(readFileSync(historyFile, 'utf8')) : [];
// The backend deletes its XML files after each call; the replay needs them later.
const kept = args.map((arg, index) => {
  if (!isFile(arg)) return arg;
  const copy = join(stateDir, `arg-${history.length}-${index}.xml`);
  copyFileSync(arg, copy);
  return copy;
});
const command = kept
  .map((arg) => {
    if (/['"\\]/.test(arg)) throw new Error(`fake virsh cannot quote ${arg}`);
    return `'${arg}'`;
  })
  .join(' ');
const MARK = 'FAKE_VIRSH_MARK';
const result = spawnSync('virsh', ['-c', 'test:///default', [...history, `echo ${MARK}`, command].join('; ')], {
  encoding: 'utf8',
});
process.stdout.write(result.stdout.slice(result.stdout.indexOf(`${MARK}\n`) + MARK.length + 1));
process.stderr.write(result.stderr);
const READ_ONLY = new Set(['domstate', 'dumpxml', 'vol-info', 'vol-list', 'list']);
if (result.status === 0 && !READ_ONLY.has(args[0])) {
  writeFileSync(historyFile, JSON.stringify([...history, command]));
}
process.exit(result.status ?? 1);
