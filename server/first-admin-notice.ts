/**
 * The generated password of the first admin, framed so that a person scrolling a terminal,
 * `journalctl` or `docker logs` notices it. It is shown this once: only its hash is stored.
 */
export function firstAdminNotice(username: string, password: string): string {
  const lines = [
    'Passthru created the first admin account:',
    '',
    `    username  ${username}`,
    `    password  ${password}`,
    '',
    'Sign in and change the password: it is shown only this once.',
    'To choose it instead, set PASSTHRU_ADMIN_PASSWORD before the first start.',
  ];
  const width = Math.max(...lines.map((line) => line.length));
  return [`┏${'━'.repeat(width + 4)}┓`, ...lines.map((line) => `┃  ${line.padEnd(width)}  ┃`), `┗${'━'.repeat(width + 4)}┛`, ''].join('\n');
}
