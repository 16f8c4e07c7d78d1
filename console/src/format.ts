// Numbers with units and times in the browser's zone (UTC on hover).

import { h } from './dom';

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < BINARY.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)} ${BINARY[i]}`;
}

export function count(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return n.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

export function rate(n: number, unit: string): string {
  if (!Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  const [v, p] = abs >= 1e9 ? [n / 1e9, 'G'] : abs >= 1e6 ? [n / 1e6, 'M'] : abs >= 1e3 ? [n / 1e3, 'k'] : [n, ''];
  return `${v.toFixed(v < 10 && p ? 2 : v < 100 ? 1 : 0)} ${p}${unit}`;
}

export function seconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
  return `${s.toFixed(2)} s`;
}

/// `YYYY-MM-DD HH:MM:SS` in the browser's zone.
export function localTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/// A <time> element: local time shown, UTC (RFC 3339) on hover.
export function time(d: Date): HTMLTimeElement {
  const iso = d.toISOString();
  return h('time', { datetime: iso, title: `${iso} (UTC)` }, localTime(d));
}

/// Parses the server's times: RFC 3339 with or without a zone (no zone means UTC).
export function parseTime(value: unknown): Date | null {
  if (typeof value === 'number') return new Date(value);
  if (typeof value !== 'string') return null;
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms);
}

export function duration(seconds: number): string {
  if (seconds <= 0) return 'forever';
  const units: [number, string][] = [
    [86400 * 7, 'w'],
    [86400, 'd'],
    [3600, 'h'],
    [60, 'm'],
    [1, 's'],
  ];
  for (const [size, unit] of units) if (seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}
