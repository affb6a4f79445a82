const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The values of `name` in a Prometheus text exposition whose labels include these (others may be present). */
export function samples(exposition: string, name: string, labels: Record<string, string> = {}): number[] {
  const found: number[] = [];
  for (const line of exposition.split('\n')) {
    const m = LINE.exec(line);
    if (!m || m[1] !== name) continue;
    const own = Object.fromEntries([...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => own[k] === v)) found.push(Number(m[3]));
  }
  return found;
}

/** The sum of those values; 0 when none was exported yet (a labelled counter appears on its first increment). */
export const total = (exposition: string, name: string, labels: Record<string, string> = {}): number =>
  samples(exposition, name, labels).reduce((a, b) => a + b, 0);
