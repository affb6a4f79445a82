import type { Redis } from '../../server/lib/redis.js';
import { createRedis } from '../../server/lib/redis.js';
import { REDIS_URL } from './test-env.js';

/**
 * Deletes the keys matching `pattern` under the client's own key prefix (a test's namespace). KEYS is
 * fine here (a test Redis, at the edges of a file), never on a request path.
 */
export async function deleteRedisKeys(redis: Redis, pattern = '*'): Promise<void> {
  // ioredis does not prefix KEYS patterns, but does prefix DEL's arguments: add it, then strip it.
  const own = redis.options.keyPrefix ?? '';
  const keys = await redis.keys(`${own}${pattern}`);
  if (keys.length) await redis.del(...keys.map((k) => k.slice(own.length)));
}

/** Every key under `prefix`, over a connection of its own, for a test whose app ran in another process. */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const redis = createRedis(REDIS_URL, { keyPrefix: prefix });
  try {
    await deleteRedisKeys(redis);
  } finally {
    redis.disconnect();
  }
}
