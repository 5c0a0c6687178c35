// A line chart of one metric for one or more runs, drawn with uPlot (canvas; it stays
// responsive with hundreds of thousands of points).
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Metric } from "../api/types";
import { metricNumber } from "../format";

export interface ChartSeries {
  label: string;
  points: Metric[];
}

export type XAxis = "step" | "time" | "relative";

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

function xOf(point: Metric, axis: XAxis, start: number): number {
  if (axis === "step") return point.step ?? 0;
  if (axis === "time") return (point.timestamp ?? 0) / 1000;
  return ((point.timestamp ?? 0) - start) / 1000;
}

/**
 * uPlot wants one shared, sorted x array with a y array per series (null where a series
 * has no point), so series logged at different steps are merged onto their union.
 */
export function alignSeries(series: ChartSeries[], axis: XAxis): uPlot.AlignedData {
  // a loop, not Math.min(...points): spreading a million arguments overflows the stack
  const starts = series.map((s) => s.points.reduce((min, p) => Math.min(min, p.timestamp ?? 0), Infinity));
  const xs = new Set<number>();
  series.forEach((s, i) => s.points.forEach((p) => xs.add(xOf(p, axis, starts[i]))));
  const x = Float64Array.from(xs).sort();
  const index = new Map<number, number>();
  x.forEach((value, i) => index.set(value, i));
  const ys = series.map((s, i) => {
    const y: (number | null)[] = new Array(x.length).fill(null);
    for (const p of s.points) {
      const value = metricNumber(p.value);
      // a step logged twice keeps its last value, as MLflow's charts do
      y[index.get(xOf(p, axis, starts[i]))!] = Number.isFinite(value) ? value : null;
    }
    return y;
  });
  return [Array.from(x), ...ys];
}

interface Props {
  title: string;
  series: ChartSeries[];
  xAxis?: XAxis;
  logScale?: boolean;
  height?: number;
}

export function MetricChart({ title, series, xAxis = "step", logScale = false, height = 220 }: Props) {
  const holder = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const width = Math.max(240, element.clientWidth);
    const options: uPlot.Options = {
      title,
      width,
      height,
      scales: { x: { time: xAxis === "time" }, y: logScale ? { distr: 3 } : {} },
      axes: [{ label: xAxis === "step" ? "step" : xAxis === "time" ? "" : "seconds" }, {}],
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
    const plot = new uPlot(options, alignSeries(series, xAxis), element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(240, element.clientWidth), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [title, series, xAxis, logScale, height]);

  return <div className="metric-chart" ref={holder} data-metric={title} data-series-count={series.length} />;
}
