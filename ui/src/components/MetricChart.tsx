// A line chart of one metric for one or more runs, drawn with uPlot (canvas). It draws
// what the server's min/max buckets give it, so it stays light however long the
// history; dragging across it reports the x range to zoom into.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { HistoryBucket } from "../api/types";

export interface ChartPoint {
  step: number;
  timestamp: number;
  value: number;
}

export interface ChartSeries {
  label: string;
  points: ChartPoint[];
}

export type XAxis = "step" | "time" | "relative";

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/**
 * The points to draw for min/max buckets: a bucket of one value is that point; a wider
 * one becomes its minimum then its maximum, so the line sweeps the bucket's whole range
 * and no spike disappears.
 */
export function bucketsToPoints(buckets: HistoryBucket[]): ChartPoint[] {
  const points: ChartPoint[] = [];
  for (const b of buckets) {
    if (b.value_min === b.value_max || b.step_min === b.step_max) {
      points.push({ step: b.step_max, timestamp: b.timestamp_max, value: b.value_max });
    } else {
      points.push({ step: b.step_min, timestamp: b.timestamp_min, value: b.value_min });
      points.push({ step: b.step_max, timestamp: b.timestamp_max, value: b.value_max });
    }
  }
  return points;
}

export function xOf(point: ChartPoint, axis: XAxis, start: number): number {
  if (axis === "step") return point.step;
  if (axis === "time") return point.timestamp / 1000;
  return (point.timestamp - start) / 1000;
}

/** Where a series' relative time starts: its earliest point. */
export function startOf(series: ChartSeries): number {
  // a loop, not Math.min(...points): spreading many arguments overflows the stack
  return series.points.reduce((min, p) => Math.min(min, p.timestamp), Infinity);
}

/** Exponential moving average with TensorBoard's bias correction; gaps stay gaps. */
export function smooth(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values;
  let last = 0;
  let count = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    count += 1;
    return last / (1 - Math.pow(weight, count));
  });
}

/**
 * uPlot wants one shared, sorted x array with a y array per series (null where a series
 * has no point), so series logged at different steps are merged onto their union.
 */
export function alignSeries(series: ChartSeries[], axis: XAxis, smoothing = 0): uPlot.AlignedData {
  const starts = series.map(startOf);
  const xs = new Set<number>();
  series.forEach((s, i) => s.points.forEach((p) => xs.add(xOf(p, axis, starts[i]))));
  const x = Float64Array.from(xs).sort();
  const index = new Map<number, number>();
  x.forEach((value, i) => index.set(value, i));
  const ys = series.map((s, i) => {
    const y: (number | null)[] = new Array(x.length).fill(null);
    for (const p of s.points) y[index.get(xOf(p, axis, starts[i]))!] = Number.isFinite(p.value) ? p.value : null;
    return smooth(y, smoothing);
  });
  return [Array.from(x), ...ys];
}

interface Props {
  title: string;
  series: ChartSeries[];
  xAxis?: XAxis;
  logScale?: boolean;
  /** EMA weight in [0, 1): 0 draws the raw values. */
  smoothing?: number;
  /** The x range shown; undefined fits the data. */
  xRange?: [number, number];
  /** Called with the x range the user dragged across. */
  onZoom?: (range: [number, number]) => void;
  height?: number;
}

export function MetricChart({ title, series, xAxis = "step", logScale = false, smoothing = 0, xRange, onZoom, height = 220 }: Props) {
  const holder = useRef<HTMLDivElement>(null);
  const zoomHandler = useRef(onZoom);
  zoomHandler.current = onZoom;
  const pointCount = series.reduce((n, s) => n + s.points.length, 0);
  const yMax = series.reduce((m, s) => s.points.reduce((mm, p) => (p.value > mm ? p.value : mm), m), -Infinity);

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const width = Math.max(240, element.clientWidth);
    const options: uPlot.Options = {
      title,
      width,
      height,
      scales: {
        x: { time: xAxis === "time", ...(xRange ? { auto: false, range: () => xRange } : {}) },
        y: logScale ? { distr: 3 } : {},
      },
      axes: [{ label: xAxis === "step" ? "step" : xAxis === "time" ? "" : "seconds" }, {}],
      // the drag selects a range for the parent to fetch in detail, rather than
      // stretching the points already drawn
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [
          (u) => {
            const { left, width: w } = u.select;
            if (w < 3) return;
            const range: [number, number] = [u.posToVal(left, "x"), u.posToVal(left + w, "x")];
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoomHandler.current?.(range);
          },
        ],
      },
      series: [
        { label: xAxis === "step" ? "step" : "time" },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: true,
          points: { show: s.points.length < 60 },
        })),
      ],
    };
    const plot = new uPlot(options, alignSeries(series, xAxis, smoothing), element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(240, element.clientWidth), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [title, series, xAxis, logScale, smoothing, xRange, height]);

  return (
    <div
      className="metric-chart"
      ref={holder}
      data-metric={title}
      data-series-count={series.length}
      data-point-count={pointCount}
      data-y-max={Number.isFinite(yMax) ? yMax : ""}
      data-x-range={xRange ? xRange.join(",") : ""}
      data-smoothing={smoothing}
      data-log-scale={logScale}
    />
  );
}
