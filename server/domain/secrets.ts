import { createHash, randomBytes } from 'node:crypto';

/** Every secret Passthru issues: 256 random bits with a prefix saying what it is for. */
export function newSecret(prefix: 'pth_host' | 'pth_api' | 'pth_session') {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Issued secrets are random, so a fast hash suffices; passwords use argon2id instead. */
export function hashSecret(secret: string) {
  return createHash('sha256').update(secret).digest('hex');
}
