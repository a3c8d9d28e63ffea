import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  readonly values: readonly (number | null)[];
}

/**
 * A time series chart (uPlot on a canvas): `times` in epoch ms, one line per series, a y axis
 * labelled with its unit. The table of the same numbers sits beside it for screen readers.
 */
export function Chart(props: {
  title: string;
  unit: string;
  times: readonly number[];
  series: readonly ChartSeries[];
  format?: (v: number) => string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const format = props.format ?? ((v: number) => String(v));
    const options: uPlot.Options = {
      width: Math.max(280, element.clientWidth),
      height: 220,
      series: [
        {
          label: 'time',
          value: (_u: uPlot, t: number | null) =>
            t === null ? '–' : new Date(t * 1000).toISOString().slice(11, 19),
        },
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)),
        })),
      ],
      axes: [
        {
          stroke: '#333',
          grid: { stroke: '#e5e5e5' },
          label: 'time (UTC)',
          values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toISOString().slice(11, 16)),
        },
        {
          stroke: '#333',
          grid: { stroke: '#e5e5e5' },
          label: props.unit,
          size: 64,
          values: (_u, ticks) => ticks.map(format),
        },
      ],
      scales: {
        x: { time: true },
        y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
      },
      legend: { live: true },
    };
    const data = [
      props.times.map((t) => t / 1000),
      ...props.series.map((s) => [...s.values]),
    ] as uPlot.AlignedData;
    const plot = new uPlot(options, data, element);
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(280, element.clientWidth), height: 220 }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.times, props.series, props.unit]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={`${props.title}, ${props.unit}, over time`} />
    </figure>
  );
}
