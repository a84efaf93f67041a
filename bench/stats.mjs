// The benchmarks' statistics: nearest-rank percentiles of a sample, one definition for every tool.

/** `{n, min, median, p90, p99, max}` of the numbers `xs` (nearest rank). */
export function percentiles(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const q = (p) => v[Math.min(v.length - 1, Math.round((v.length - 1) * p))];
  return { n: v.length, min: v[0], median: q(0.5), p90: q(0.9), p99: q(0.99), max: v[v.length - 1] };
}

/** `x` to two decimals, as a number. */
export const round2 = (x) => +x.toFixed(2);
