// Line charts over uPlot: times on x (the browser's zone), one or more series on y.

import uPlot from 'uplot';
import { h } from './dom';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

export interface LineChart {
  element: HTMLElement;
  /// x in seconds since the epoch; one array per series.
  set(x: number[], ys: (number | null)[][]): void;
  destroy(): void;
}

/// A chart titled `title` with `labels` series whose values `format` writes with units.
export function lineChart(title: string, labels: string[], format: (v: number) => string, height = 180): LineChart {
  const element = h('figure', { class: 'chart', role: 'img', 'aria-label': title }, h('figcaption', {}, title));
  const width = () => Math.max(240, (element.clientWidth || 400) - 16);
  const opts: uPlot.Options = {
    width: width(),
    height,
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [
      {},
      {
        values: (_u: uPlot, ticks: number[]) => ticks.map((t) => format(t)),
        size: 96,
      },
    ],
    series: [
      {},
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
