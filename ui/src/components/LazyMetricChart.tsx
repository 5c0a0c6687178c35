// A metric chart that fetches its history only once it scrolls into view, so a run with
// hundreds of metrics does not fire hundreds of requests up front.
import { useEffect, useRef, useState } from "react";
import { getMetricHistory } from "../api/client";
import type { Run } from "../api/types";
import { ErrorBox, Loading, useAsync } from "../common";
import { runDisplayName, runId } from "../format";
import { MetricChart, type XAxis } from "./MetricChart";

interface Props {
  runs: Run[];
  metricKey: string;
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

export function LazyMetricChart({ runs, metricKey }: Props) {
  const [ref, seen] = useSeen();
  const [xAxis, setXAxis] = useState<XAxis>("step");
  const [logScale, setLogScale] = useState(false);
  const ids = runs.map(runId).join(",");
  const history = useAsync(async () => {
    if (!seen) return undefined;
    const histories = await Promise.all(runs.map((run) => getMetricHistory(runId(run), metricKey)));
    return runs
      .map((run, i) => ({ label: runDisplayName(run), points: histories[i] }))
      .filter((s) => s.points.length > 0);
  }, [seen, ids, metricKey]);

  return (
    <figure className="chart-card" ref={ref} aria-label={`Chart of ${metricKey}`}>
      <div className="chart-controls">
        <label>
          x:{" "}
          <select value={xAxis} onChange={(e) => setXAxis(e.target.value as XAxis)} aria-label={`X axis of ${metricKey}`}>
            <option value="step">step</option>
            <option value="time">wall time</option>
            <option value="relative">relative time</option>
          </select>
        </label>
        <label>
          <input type="checkbox" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} /> log
        </label>
      </div>
      {history.error ? (
        <ErrorBox error={history.error} />
      ) : history.data ? (
        <MetricChart title={metricKey} series={history.data} xAxis={xAxis} logScale={logScale} />
      ) : (
        <Loading what={metricKey} />
      )}
    </figure>
  );
}
