import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from '../lib/redis.js';
import type { Env } from '../env.js';
import { AppError } from '../lib/errors.js';

export interface RateLimitRule {
  points: number;
  durationSeconds: number;
}

/**
 * A fixed-window counter in Redis, so a limit holds across every API process. If Redis fails, an
 * in-process counter with the same rule stands in (limits then hold per process) rather than refusing
 * every sign-in during an outage.
 */
export class RateLimit {
  private readonly limiter: RateLimiterRedis;

  constructor(redis: Redis, readonly name: string, readonly rule: RateLimitRule) {
    const opts = { keyPrefix: `rl:${name}`, points: rule.points, duration: rule.durationSeconds };
    // The app's ioredis client: `useRedisPackage: false` selects ioredis's command style. Its keyPrefix
    // (per test file in tests) is applied on top of ours.
    this.limiter = new RateLimiterRedis({ ...opts, storeClient: redis, useRedisPackage: false, insuranceLimiter: new RateLimiterMemory(opts) });
  }

  /** Counts one attempt; resolves to the seconds to wait when this attempt is over the limit, else null. */
  async hit(key: string): Promise<number | null> {
    try {
      await this.limiter.consume(key);
      return null;
    } catch (res) {
      if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw res;
    }
  }

  /** Gives back one attempt (a login or refresh that succeeded should not count against its IP). */
  async giveBack(key: string): Promise<void> {
    await this.limiter.reward(key, 1);
  }

  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }
}

/**
 * Counts one attempt against each (limit, key) pair and refuses with 429 RATE_LIMITED when any is over
 * its limit; Retry-After is the longest wait among them. Every pair is counted even when the first one
 * refuses, so an attacker cannot dodge the per-account counter by tripping the per-IP one first.
 */
export async function enforce(checks: [RateLimit, string][]): Promise<void> {
  const waits = await Promise.all(checks.map(([limit, key]) => limit.hit(key)));
  const retryAfter = Math.max(0, ...waits.map((w) => w ?? 0));
  if (retryAfter > 0) {
    throw new AppError('RATE_LIMITED', `Too many attempts; try again in ${retryAfter} seconds`, undefined, retryAfter);
  }
}

/** Emails and tokens are not written to Redis as they are: a short SHA-256 of them is the key. */
export function subjectKey(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 32);
}

export interface AuthRateLimitRules {
  loginPerAccount: RateLimitRule;
  loginPerIp: RateLimitRule;
  refreshPerToken: RateLimitRule;
  refreshPerIp: RateLimitRule;
  refreshPerAccount: RateLimitRule;
  registerPerIp: RateLimitRule;
}

export const authRateLimitRules = (config: Env): AuthRateLimitRules => ({
  loginPerAccount: config.RATE_LIMIT_LOGIN_PER_ACCOUNT,
  loginPerIp: config.RATE_LIMIT_LOGIN_PER_IP,
  refreshPerToken: config.RATE_LIMIT_REFRESH_PER_TOKEN,
  refreshPerIp: config.RATE_LIMIT_REFRESH_PER_IP,
  refreshPerAccount: config.RATE_LIMIT_REFRESH_PER_ACCOUNT,
  registerPerIp: config.RATE_LIMIT_REGISTER_PER_IP,
});

/**
 * The sign-in limits, named by intent so the REST handlers stay short. Login and refresh count every
 * attempt up front (no race lets a burst of parallel guesses slip past a check-then-count), then give the
 * point back on success, so in effect only failures count; a successful login also clears its account's
 * counter. Registration counts every attempt.
 */
export class AuthRateLimiter {
  readonly loginPerAccount: RateLimit;
  readonly loginPerIp: RateLimit;
  readonly refreshPerToken: RateLimit;
  readonly refreshPerIp: RateLimit;
  readonly refreshPerAccount: RateLimit;
  readonly registerPerIp: RateLimit;

  constructor(redis: Redis, rules: AuthRateLimitRules) {
    this.loginPerAccount = new RateLimit(redis, 'login:account', rules.loginPerAccount);
    this.loginPerIp = new RateLimit(redis, 'login:ip', rules.loginPerIp);
    this.refreshPerToken = new RateLimit(redis, 'refresh:token', rules.refreshPerToken);
    this.refreshPerIp = new RateLimit(redis, 'refresh:ip', rules.refreshPerIp);
    this.refreshPerAccount = new RateLimit(redis, 'refresh:account', rules.refreshPerAccount);
    this.registerPerIp = new RateLimit(redis, 'register:ip', rules.registerPerIp);
  }

  /** `email` already normalised, so "A@x.com" and "a@x.com" share one counter. */
  beforeLogin(ip: string, email: string): Promise<void> {
    return enforce([
      [this.loginPerIp, ip],
      [this.loginPerAccount, subjectKey(email)],
    ]);
  }

  async loginSucceeded(ip: string, email: string): Promise<void> {
    await Promise.all([this.loginPerIp.giveBack(ip), this.loginPerAccount.reset(subjectKey(email))]);
  }

  beforeRefresh(ip: string, refreshToken: string): Promise<void> {
    return enforce([
      [this.refreshPerIp, ip],
      [this.refreshPerToken, subjectKey(refreshToken)],
    ]);
  }

  /**
   * Per account, once the token is known to belong to one: every refresh counts (devices refresh a few
   * times an hour; a stolen family refreshed in a loop is cut off even before reuse detection sees it).
   */
  beforeRefreshOfAccount(userId: number): Promise<void> {
    return enforce([[this.refreshPerAccount, String(userId)]]);
  }

  async refreshSucceeded(ip: string): Promise<void> {
    await this.refreshPerIp.giveBack(ip);
  }

  beforeRegister(ip: string): Promise<void> {
    return enforce([[this.registerPerIp, ip]]);
  }
}
