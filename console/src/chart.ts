// Line charts over uPlot: times on x (the browser's zone), one or more series on y.

import uPlot from 'uplot';
import { h } from './dom';
import { localTime } from './format';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

export interface LineChart {
  element: HTMLElement;
  /// x in seconds since the epoch; one array per series.
  set(x: number[], ys: (number | null)[][]): void;
  destroy(): void;
}

/// Steps between time ticks, in seconds: whole seconds up to years (no sub-second
/// labels such as `:41.750`).
const TIME_INCRS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400, 7 * 86400,
  14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400,
];

const pad = (n: number) => String(n).padStart(2, '0');

/// Labels of time ticks `splits` (seconds) `incr` apart, in the browser's zone: `HH:MM:SS`
/// under a minute apart, else `HH:MM`, with the date under the first tick and under each
/// tick starting a new day; only dates when ticks are days apart. Dates are `MM-DD` on a
/// narrow chart.
export function timeLabels(splits: number[], incr: number, narrow: boolean): string[] {
  return splits.map((s, i) => {
    const d = new Date(s * 1000);
    const date = `${narrow ? '' : `${d.getFullYear()}-`}${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    if (incr >= 86400) return date;
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${incr < 60 ? `:${pad(d.getSeconds())}` : ''}`;
    const previous = i > 0 ? new Date(splits[i - 1] * 1000) : null;
    return previous && previous.toDateString() === d.toDateString() ? time : `${time}\n${date}`;
  });
}

/// A chart titled `title` with `labels` series whose values `format` writes with units.
export function lineChart(title: string, labels: string[], format: (v: number) => string, height = 180): LineChart {
  const element = h('figure', { class: 'chart', role: 'img', 'aria-label': title }, h('figcaption', {}, title));
  const width = () => Math.max(240, (element.clientWidth || 400) - 16);
  const narrow = () => width() < 480;
  const opts: uPlot.Options = {
    width: width(),
    height,
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [
      {
        // Room for a label (`HH:MM:SS` over a date) between ticks: fewer ticks when narrow.
        space: (_u: uPlot, _axis: number, _min: number, _max: number, dim: number) => (dim < 400 ? 90 : 80),
        incrs: TIME_INCRS,
        values: (_u: uPlot, splits: number[], _axis: number, _space: number, incr: number) => timeLabels(splits, incr, narrow()),
      },
      {
        values: (_u: uPlot, ticks: number[]) => ticks.map((t) => format(t)),
        size: 96,
      },
    ],
    series: [
      { value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : localTime(new Date(v * 1000))) },
      ...labels.map((label, i) => ({
        label,
        stroke: COLORS[i % COLORS.length],
        width: 1.5,
        value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : format(v)),
      })),
    ],
  };
  const empty: uPlot.AlignedData = [[], ...labels.map(() => [])];
  const plot = new uPlot(opts, empty, element);
  const observer = new ResizeObserver(() => plot.setSize({ width: width(), height }));
  observer.observe(element);
  return {
    element,
    set(x, ys) {
      plot.setData([x, ...ys] as uPlot.AlignedData);
      // Away from the cursor, the legend shows the latest values.
      if (x.length && (plot.cursor.left ?? -1) < 0) plot.setLegend({ idx: x.length - 1 });
    },
    destroy() {
      observer.disconnect();
      plot.destroy();
    },
  };
}
