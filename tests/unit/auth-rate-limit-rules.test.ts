import { describe, expect, it } from 'vitest';
import { parseEnv } from '../../server/env.js';
import { testEnv } from '../support/test-env.js';

describe('rate-limit configuration', () => {
  it('defaults: login 10 per account and 50 per IP per 15 min, refresh 10 per token and 50 per IP per 15 min, register 20 per IP per hour', () => {
    const env = parseEnv(testEnv());
    expect(env.RATE_LIMIT_LOGIN_PER_ACCOUNT).toEqual({ points: 10, durationSeconds: 900 });
    expect(env.RATE_LIMIT_LOGIN_PER_IP).toEqual({ points: 50, durationSeconds: 900 });
    expect(env.RATE_LIMIT_REFRESH_PER_TOKEN).toEqual({ points: 10, durationSeconds: 900 });
    expect(env.RATE_LIMIT_REFRESH_PER_IP).toEqual({ points: 50, durationSeconds: 900 });
    expect(env.RATE_LIMIT_REFRESH_PER_ACCOUNT).toEqual({ points: 30, durationSeconds: 900 });
    expect(env.RATE_LIMIT_REGISTER_PER_IP).toEqual({ points: 20, durationSeconds: 3600 });
  });

  it.each([
    ['5/30s', { points: 5, durationSeconds: 30 }],
    ['100/15m', { points: 100, durationSeconds: 900 }],
    ['3/2h', { points: 3, durationSeconds: 7200 }],
  ])('reads %s', (value, rule) => {
    expect(parseEnv({ ...testEnv(), RATE_LIMIT_LOGIN_PER_IP: value }).RATE_LIMIT_LOGIN_PER_IP).toEqual(rule);
  });

  it.each(['ten', '10', '10/15', '0/15m', '10/0m', '10/15d', '10/15M', '1.5/1m', '-1/1m', '10 / 15m', '10/15m/2', '/15m', '10/m'])('refuses %s, naming the variable', (value) => {
    expect(() => parseEnv({ ...testEnv(), RATE_LIMIT_LOGIN_PER_ACCOUNT: value })).toThrow(/RATE_LIMIT_LOGIN_PER_ACCOUNT must look like <points>\/<window>, e\.g\. 10\/15m/);
  });

  it('reads around surrounding blanks (a .env line with a trailing space)', () => {
    expect(parseEnv({ ...testEnv(), RATE_LIMIT_LOGIN_PER_IP: ' 7/2m ' }).RATE_LIMIT_LOGIN_PER_IP).toEqual({ points: 7, durationSeconds: 120 });
  });

  it('an empty value (`RATE_LIMIT_REGISTER_PER_IP=` in .env) means the default, not a refusal', () => {
    expect(parseEnv({ ...testEnv(), RATE_LIMIT_REGISTER_PER_IP: '' }).RATE_LIMIT_REGISTER_PER_IP).toEqual({ points: 20, durationSeconds: 3600 });
  });

  it('every rule variable is checked, and all the bad ones are named at once', () => {
    const names = [
      'RATE_LIMIT_LOGIN_PER_ACCOUNT',
      'RATE_LIMIT_LOGIN_PER_IP',
      'RATE_LIMIT_REFRESH_PER_TOKEN',
      'RATE_LIMIT_REFRESH_PER_IP',
      'RATE_LIMIT_REFRESH_PER_ACCOUNT',
      'RATE_LIMIT_REGISTER_PER_IP',
    ];
    let message = '';
    try {
      parseEnv({ ...testEnv(), ...Object.fromEntries(names.map((n) => [n, 'lots'])) });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const name of names) expect(message).toContain(`- ${name}: ${name} must look like <points>/<window>`);
  });
});
