import uPlot from 'uplot';

/** Small uPlot time-series charts that follow their container's width (phones included). */
export interface Chart {
  el: HTMLElement;
  update(data: uPlot.AlignedData): void;
}

const HEIGHT = 140;

function sized(el: HTMLElement, make: (width: number) => uPlot): Chart {
  let plot: uPlot | null = null;
  let pending: uPlot.AlignedData | null = null;
  const width = () => Math.max(200, Math.floor(el.clientWidth || 300));
  new ResizeObserver(() => plot?.setSize({ width: width(), height: HEIGHT })).observe(el);
  return {
    el,
    update(data) {
      pending = data;
      if (!el.isConnected) return;
      plot ??= make(width());
      plot.setData(pending);
    },
  };
}

/** Frames per second (left axis) and inference p50/p95 in ms (right axis) over the last minutes. */
export function liveChart(): Chart {
  const el = document.createElement('div');
  el.className = 'chart';
  return sized(el, (width) => new uPlot({
    width, height: HEIGHT, legend: { show: true }, cursor: { drag: { x: false, y: false } },
    // At least the last minute on the time axis, so a fresh chart does not stretch a point over years.
    scales: { x: { time: true, range: (_u, min, max) => [Math.min(min, max - 60), max] }, fps: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] },
      ms: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] } },
    axes: [{}, { scale: 'fps', label: 'fps', size: 40 }, { scale: 'ms', label: 'ms', side: 1, grid: { show: false }, size: 50 }],
    series: [{}, { label: 'fps', scale: 'fps', stroke: '#2563eb', width: 2 }, { label: 'p50 ms', scale: 'ms', stroke: '#16a34a' }, { label: 'p95 ms', scale: 'ms', stroke: '#dc2626' }],
  }, [[], [], [], []], el));
}

/** Per drift window: estimated accuracy (%) and the worst metric as a multiple of its threshold. */
export function driftChart(): Chart {
  const el = document.createElement('div');
  el.className = 'chart';
  return sized(el, (width) => new uPlot({
    width, height: HEIGHT, legend: { show: true }, cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: (_u, min, max) => (max - min < 60 ? [min - 30, max + 30] : [min, max]) }, pct: { range: [0, 100] },
      ratio: { range: (_u, _min, max) => [0, Math.max(2, max * 1.1)] } },
    axes: [{}, { scale: 'pct', label: 'est. accuracy %', size: 40 }, { scale: 'ratio', label: 'worst / threshold', side: 1, grid: { show: false }, size: 56 }],
    series: [{}, { label: 'est. accuracy %', scale: 'pct', stroke: '#2563eb', width: 2, points: { show: true } },
      { label: 'worst metric / threshold', scale: 'ratio', stroke: '#dc2626', points: { show: true } }],
  }, [[], [], []], el));
}
