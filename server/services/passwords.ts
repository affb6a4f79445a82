import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { logger } from '../lib/logger.js';

/**
 * argon2id at OWASP's current minimum (19 MiB, 2 iterations, parallelism 1). The parameters are embedded
 * in the PHC string, so raising them later needs no migration: a login with an older hash re-hashes it.
 */
export const PASSWORD_HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, PASSWORD_HASH_OPTIONS);
}

/** False for a wrong password and for a stored hash argon2 cannot read (logged: that is corruption). */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch (err) {
    logger.error({ err }, 'stored password hash could not be verified');
    return false;
  }
}

export function passwordNeedsRehash(hash: string): boolean {
  try {
    return argon2.needsRehash(hash, PASSWORD_HASH_OPTIONS);
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/** A hash of a random password with the current parameters, computed once per process on first use. */
function getDummyHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(32).toString('base64url')).catch((err: unknown) => {
    dummyHash = undefined;
    throw err;
  });
  return dummyHash;
}

/**
 * Spends the same argon2 work as checking a real password, for a login whose email matches no user: a
 * wrong email and a wrong password then take the same time, so timing does not reveal who has an account.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  await argon2.verify(await getDummyHash(), password);
  return false;
}

/** Computes the dummy hash ahead of the first unknown-email login (which would otherwise pay for it). */
export function primeDummyHash(): void {
  getDummyHash().catch((err: unknown) => logger.error({ err }, 'could not compute the dummy password hash'));
}
