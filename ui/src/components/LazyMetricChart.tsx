// A metric chart that fetches its history only once it scrolls into view, so a run with
// hundreds of metrics does not fire hundreds of requests up front. Histories come from
// the server already downsampled to min/max buckets; a drag zooms in and fetches the
// chosen step range in full detail.
import { useEffect, useRef, useState } from "react";
import { getHistoryDownsampled } from "../api/client";
import type { Run } from "../api/types";
import { ErrorBox, Loading, useAsync } from "../common";
import { runDisplayName, runId } from "../format";
import { bucketsToPoints, MetricChart, startOf, xOf, type ChartSeries, type XAxis } from "./MetricChart";

// Buckets per series: a little more than a chart is wide, in pixels.
export const CHART_BUCKETS = 1000;

interface Props {
  runs: Run[];
  metricKey: string;
  /** Changing it fetches the histories again (live runs). */
  refreshKey?: number;
}

interface Zoom {
  xRange: [number, number];
  steps: [number, number];
}

function useSeen(): [React.RefObject<HTMLDivElement | null>, boolean] {
  const ref = useRef<HTMLDivElement>(null);
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    const element = ref.current;
    if (!element || seen) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setSeen(true);
    }, { rootMargin: "200px" });
    observer.observe(element);
    return () => observer.disconnect();
  }, [seen]);
  return [ref, seen];
}

/**
 * The step range behind an x range of the chart: the steps of the points drawn inside
 * it, widened to the nearest point on each side so the zoomed line reaches the edges.
 */
export function stepRangeOf(series: ChartSeries[], axis: XAxis, [a, b]: [number, number]): [number, number] {
  if (axis === "step") return [Math.floor(a), Math.ceil(b)];
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    const start = startOf(s);
    let before: number | undefined;
    let after: number | undefined;
    for (const p of s.points) {
      const x = xOf(p, axis, start);
      if (x < a) before = Math.max(before ?? -Infinity, p.step);
      else if (x > b) after = Math.min(after ?? Infinity, p.step);
      else {
        lo = Math.min(lo, p.step);
        hi = Math.max(hi, p.step);
      }
    }
    if (before !== undefined) lo = Math.min(lo, before);
    if (after !== undefined) hi = Math.max(hi, after);
  }
  return Number.isFinite(lo) && Number.isFinite(hi) ? [lo, hi] : [Math.floor(a), Math.ceil(b)];
}

export function LazyMetricChart({ runs, metricKey, refreshKey = 0 }: Props) {
  const [ref, seen] = useSeen();
  const [xAxis, setXAxis] = useState<XAxis>("step");
  const [logScale, setLogScale] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  const [zoom, setZoom] = useState<Zoom | undefined>();
  const ids = runs.map(runId).join(",");
  const history = useAsync(async () => {
    if (!seen) return undefined;
    const range = zoom ? { startStep: zoom.steps[0], endStep: zoom.steps[1] } : {};
    const pages = await Promise.all(runs.map((run) => getHistoryDownsampled(runId(run), metricKey, CHART_BUCKETS, range)));
    const series = runs
      .map((run, i) => ({ label: runDisplayName(run), points: bucketsToPoints(pages[i].buckets) }))
      .filter((s) => s.points.length > 0);
    const total = pages.reduce((n, p) => n + p.total_points, 0);
    return { series, total };
  }, [seen, ids, metricKey, zoom, refreshKey]);

  const onZoom = (xRange: [number, number]) => {
    if (!history.data) return;
    setZoom({ xRange, steps: stepRangeOf(history.data.series, xAxis, xRange) });
  };

  return (
    <figure
      className="chart-card"
      ref={ref}
      aria-label={`Chart of ${metricKey}`}
      data-total-points={history.data?.total ?? ""}
      data-zoom-steps={zoom ? zoom.steps.join(",") : ""}
      data-loading={history.loading}
    >
      <div className="chart-controls">
        <label>
          x:{" "}
          <select
            value={xAxis}
            onChange={(e) => {
              setZoom(undefined);
              setXAxis(e.target.value as XAxis);
            }}
            aria-label={`X axis of ${metricKey}`}
          >
            <option value="step">step</option>
            <option value="time">wall time</option>
            <option value="relative">relative time</option>
          </select>
        </label>
        <label title="Exponential moving average">
          smooth{" "}
          <input
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={smoothing}
            aria-label={`Smoothing of ${metricKey}`}
            onChange={(e) => setSmoothing(Number(e.target.value))}
          />
        </label>
        <label>
          <input type="checkbox" checked={logScale} aria-label={`Log scale of ${metricKey}`} onChange={(e) => setLogScale(e.target.checked)} /> log
        </label>
        {zoom && (
          <button type="button" className="small" onClick={() => setZoom(undefined)}>
            Reset zoom
          </button>
        )}
      </div>
      {history.error ? (
        <ErrorBox error={history.error} />
      ) : history.data ? (
        <MetricChart
          title={metricKey}
          series={history.data.series}
          xAxis={xAxis}
          logScale={logScale}
          smoothing={smoothing}
          xRange={zoom?.xRange}
          onZoom={onZoom}
        />
      ) : (
        <Loading what={metricKey} />
      )}
    </figure>
  );
}
