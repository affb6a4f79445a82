/** Runs `tasks` with at most `concurrency` in flight; returns each task's latency in ms and the wall time. */
export async function runPool<T>(concurrency: number, tasks: (() => Promise<T>)[]): Promise<{ latencies: number[]; wallMs: number; results: PromiseSettledResult<T>[] }> {
  const latencies: number[] = new Array(tasks.length);
  const results: PromiseSettledResult<T>[] = new Array(tasks.length);
  let next = 0;
  const started = performance.now();
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= tasks.length) return;
      const t0 = performance.now();
      try {
        results[i] = { status: 'fulfilled', value: await tasks[i]!() };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
      latencies[i] = performance.now() - t0;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  return { latencies, wallMs: performance.now() - started, results };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function row(label: string, n: number, wallMs: number, latencies: number[]) {
  return {
    scenario: label,
    ops: n,
    'ops/s': Math.round((n / wallMs) * 1000),
    'p50 ms': Number(percentile(latencies, 50).toFixed(1)),
    'p99 ms': Number(percentile(latencies, 99).toFixed(1)),
  };
}

export const intArg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.split('=')[1]) : fallback;
};
