import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { loggerOptions } from '../../server/lib/logger.js';
import { scrubError, scrubText } from '../../server/lib/scrub.js';
import { scrubEvent } from '../../server/lib/sentry.js';

/** The app's logger options over a stream of our own: the lines as they would be written. */
function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { log: pino(loggerOptions('info'), stream), text: () => lines.join('') };
}

/** The shape of drizzle's DrizzleQueryError over a mysql2 error, as register produces it. */
function queryError() {
  const cause = Object.assign(new Error("Duplicate entry 'noura@example.com' for key 'uq_users_email'"), {
    code: 'ER_DUP_ENTRY',
    sqlMessage: "Duplicate entry 'noura@example.com' for key 'uq_users_email'",
    sql: "insert into `users` (`email`, `password_hash`) values ('noura@example.com', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA')",
  });
  return Object.assign(new Error('Failed query: insert into `users` (`email`, `password_hash`) values (?, ?)\nparams: noura@example.com,$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'), {
    query: 'insert into `users` (`email`, `password_hash`) values (?, ?)',
    params: ['noura@example.com', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'],
    cause,
  });
}

describe('what the logger writes', () => {
  it('drops credentials by path: authorization headers, passwords, tokens, card data', () => {
    const { log, text } = captureLogger();
    log.info({
      req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', 'stripe-signature': 't=1,v1=2' } },
      password: 'hunter2hunter2',
      body: { password: 'hunter3hunter3', refreshToken: 'rt-secret-value', card: { number: '4242424242424242' } },
      user: { passwordHash: 'stored-hash-value', accessToken: 'at-secret-value' },
      token: 'plain-token-value',
    });
    const out = text();
    for (const secret of ['abc.def.ghi', 'sid=1', 't=1,v1=2', 'hunter2hunter2', 'hunter3hunter3', 'rt-secret-value', '4242424242424242', 'stored-hash-value', 'at-secret-value', 'plain-token-value']) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('[redacted]');
  });

  it('scrubs a query error: the query stays, its parameters, the inlined SQL, the e-mail and the hash go', () => {
    const { log, text } = captureLogger();
    log.error({ err: queryError() }, 'request failed');
    const out = text();
    expect(out).toContain('Failed query: insert into `users`');
    expect(out).toContain('params: [redacted]');
    expect(out).toContain("Duplicate entry '[redacted]' for key 'uq_users_email'");
    expect(out).not.toContain('noura@example.com');
    expect(out).not.toContain('$argon2');
    expect(out).not.toContain("values ('"); // mysql2's statement with the values inlined
  });

  it('leaves the original error untouched for the code that handles it', () => {
    const err = queryError();
    scrubError(err);
    expect(err.params).toHaveLength(2);
    expect(err.message).toContain('noura@example.com');
  });
});

describe('scrubText', () => {
  it.each([
    ['an e-mail', 'user someone.else+tag@mail.example.org failed', 'someone.else+tag@mail.example.org'],
    ['a JWT', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl rejected', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0'],
    ['a Stripe key', 'using sk_live_51Habcdefghijklmnop', 'sk_live_51Habcdefghijklmnop'],
    ['a webhook secret', 'whsec_abcdefghijklmnop1234', 'whsec_abcdefghijklmnop1234'],
    ['a card number with spaces', 'card 4242 4242 4242 4242 declined', '4242 4242 4242 4242'],
    ['an argon2 hash', 'hash $argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', '$argon2id$'],
  ])('removes %s', (_name, text, secret) => {
    expect(scrubText(text)).not.toContain(secret);
  });

  it('keeps what is not secret: ids, amounts, booking numbers that fail the Luhn check', () => {
    expect(scrubText('booking 1234567890123 for 45000 halalas')).toBe('booking 1234567890123 for 45000 halalas');
  });
});

describe("Sentry's beforeSend", () => {
  it('keeps only the user id and drops headers, cookies, bodies and secret fields', () => {
    const event = scrubEvent({
      user: { id: '42', email: 'noura@example.com', ip_address: '203.0.113.7' },
      request: { headers: { authorization: 'Bearer x.y.z' }, cookies: { sid: '1' }, data: '{"password":"p"}' },
      extra: { params: ['noura@example.com'], path: '/api/mobile/v1/auth/register' },
      exception: { values: [{ type: 'Error', value: 'Failed query: insert\nparams: noura@example.com,secret' }] },
    });
    expect(event.user).toEqual({ id: '42' });
    expect(event.request).toEqual({ headers: { authorization: '[redacted]' } });
    expect(event.extra).toEqual({ params: '[redacted]', path: '/api/mobile/v1/auth/register' });
    expect(event.exception!.values![0]!.value).toBe('Failed query: insert\nparams: [redacted]');
  });
});
