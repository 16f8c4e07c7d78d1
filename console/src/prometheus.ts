// A parser for the Prometheus text format of `GET /metrics`.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    let name: string;
    const labels: Record<string, string> = {};
    if (brace >= 0 && brace < space) {
      name = line.slice(0, brace);
      const close = line.lastIndexOf('}');
      const body = line.slice(brace + 1, close);
      for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    } else {
      name = line.slice(0, space).trim();
    }
    const value = Number(line.slice(space + 1));
    samples.push({ name, labels, value });
  }
  return samples;
}

/// The sum of every sample named `name` whose labels pass `keep`.
export function sum(samples: Sample[], name: string, keep: (l: Record<string, string>) => boolean = () => true): number {
  let total = 0;
  let found = false;
  for (const s of samples)
    if (s.name === name && keep(s.labels)) {
      total += s.value;
      found = true;
    }
  return found ? total : NaN;
}

/// `(upper bound, cumulative count)` of histogram `name`, bounds ascending.
export function buckets(samples: Sample[], name: string): [number, number][] {
  return samples
    .filter((s) => s.name === `${name}_bucket`)
    .map((s): [number, number] => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
}

/// The q-quantile of the observations between two snapshots of a histogram, interpolated
/// linearly inside the bucket as Prometheus' histogram_quantile does; NaN without any.
export function quantile(q: number, before: [number, number][], after: [number, number][]): number {
  const delta = after.map(([le, c], i): [number, number] => [le, c - (before[i]?.[1] ?? 0)]);
  const total = delta.length ? delta[delta.length - 1][1] : 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, c] of delta) {
    if (c >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * ((rank - below) / Math.max(c - below, 1e-9));
    }
    lower = le;
    below = c;
  }
  return lower;
}
