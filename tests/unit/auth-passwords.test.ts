import argon2 from 'argon2';
import { describe, expect, it } from 'vitest';
import { hashPassword, passwordNeedsRehash, verifyAgainstDummy, verifyPassword } from '../../server/services/passwords.js';

const params = (hash: string) => Object.fromEntries(hash.split('$')[3]!.split(',').map((kv) => kv.split('=')));

describe('password hashing', () => {
  it('is argon2id at 19 MiB, 2 iterations, parallelism 1, with a fresh salt each time', async () => {
    const [a, b] = await Promise.all([hashPassword('correct horse battery'), hashPassword('correct horse battery')]);
    expect(a.startsWith('$argon2id$v=19$')).toBe(true);
    expect(params(a)).toEqual({ m: '19456', t: '2', p: '1' });
    expect(a).not.toBe(b);
  });

  it('verifies the right password (spaces and non-ASCII included) and refuses a wrong one', async () => {
    const password = '  كلمة سر طويلة ✈ ';
    const hash = await hashPassword(password);
    expect(await verifyPassword(hash, password)).toBe(true);
    expect(await verifyPassword(hash, password.trim())).toBe(false);
  });

  it('treats an unreadable stored hash as a failed check, not a crash', async () => {
    expect(await verifyPassword('not-a-phc-string', 'whatever')).toBe(false);
  });

  it('the dummy check used for unknown emails always fails, and does the argon2 work', async () => {
    expect(await verifyAgainstDummy('correct horse battery')).toBe(false);
    expect(await verifyAgainstDummy('')).toBe(false);
  });

  it('asks for a rehash when the stored parameters are weaker than the current ones', async () => {
    const old = await argon2.hash('correct horse battery', { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 });
    expect(passwordNeedsRehash(old)).toBe(true);
    expect(passwordNeedsRehash(await hashPassword('correct horse battery'))).toBe(false);
  });
});
