export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** `p`, or a TimeoutError after `ms`. `p` itself is not cancelled; the timer never holds the process open. */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A loader for values read on demand (a metrics scrape) that must stay cheap whoever asks how often:
 * a value younger than `ttlMs` is served from memory, at most one load runs at a time (callers share
 * it), and a caller waits at most `timeoutMs` for it. A load that outlives its callers' timeout keeps
 * running and still fills the cache; nobody starts a second one meanwhile.
 */
export function cachedLoader<T>(load: () => Promise<T>, opts: { ttlMs: number; timeoutMs: number; what: string }): () => Promise<T> {
  let cached: { at: number; value: T } | undefined;
  let inflight: Promise<T> | undefined;
  return () => {
    if (cached && performance.now() - cached.at < opts.ttlMs) return Promise.resolve(cached.value);
    inflight ??= load()
      .then((value) => {
        cached = { at: performance.now(), value };
        return value;
      })
      .finally(() => {
        inflight = undefined;
      });
    return withTimeout(inflight, opts.timeoutMs, opts.what);
  };
}
