// Several runs side by side (from any experiments): params and latest metrics with the
// rows that differ highlighted, every metric charted with one series per run, a scatter
// plot of any two params/metrics, and parallel coordinates.
import { getRun } from "../api/client";
import type { Run } from "../api/types";
import { ErrorBox, Loading, useAsync } from "../common";
import { formatMetric, metricsOf, paramsOf, runDisplayName, runId } from "../format";
import { buildHash } from "../router";
import { ParallelCoordinates, ScatterPlot } from "./ComparePlots";
import { LazyMetricChart } from "./LazyMetricChart";

interface Props {
  runIds: string[];
}

type Cell = string | undefined;

function CompareTable({ label, runs, rows }: { label: string; runs: Run[]; rows: [string, Cell[]][] }) {
  if (rows.length === 0) return <p className="muted">None.</p>;
  return (
    <div className="compare-scroll">
      <table className="kv compare" aria-label={label}>
        <thead>
          <tr>
            <th>{label}</th>
            {runs.map((r) => (
              <th key={runId(r)}>{runDisplayName(r)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map(([key, values]) => {
            const differs = new Set(values).size > 1;
            return (
              <tr key={key} data-key={key} className={differs ? "differs" : ""} data-differs={differs}>
                <th scope="row">{key}</th>
                {values.map((v, i) => (
                  <td key={i} className={v === undefined ? "missing" : ""}>
                    {v ?? "—"}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function unionKeys(records: Record<string, unknown>[]): string[] {
  return [...new Set(records.flatMap((r) => Object.keys(r)))].sort((a, b) => a.localeCompare(b));
}

export function CompareView({ runIds }: Props) {
  const runs = useAsync(() => Promise.all(runIds.map(getRun)), [runIds.join(",")]);
  if (runIds.length === 0) return <p className="muted">Select runs in a runs table and press Compare.</p>;
  if (runs.error) return <ErrorBox error={runs.error} />;
  if (!runs.data) return <Loading what="runs" />;
  const list = runs.data;
  const params = list.map(paramsOf);
  const metrics = list.map(metricsOf);
  const metricKeys = unionKeys(metrics);
  return (
    <article className="compare-view">
      <h1>Comparing {list.length} runs</h1>
      <ul className="compare-runs">
        {list.map((r) => (
          <li key={runId(r)}>
            <a href={buildHash(["runs", runId(r)])}>{runDisplayName(r)}</a> <span className="muted">experiment {r.info.experiment_id}</span>
          </li>
        ))}
      </ul>
      <section aria-labelledby="compare-params">
        <h2 id="compare-params">Parameters</h2>
        <CompareTable label="Parameters" runs={list} rows={unionKeys(params).map((k) => [k, params.map((p) => p[k])])} />
      </section>
      <section aria-labelledby="compare-metrics">
        <h2 id="compare-metrics">Metrics (latest values)</h2>
        <CompareTable
          label="Metrics"
          runs={list}
          rows={metricKeys.map((k) => [k, metrics.map((m) => (m[k] ? formatMetric(m[k].value) : undefined))])}
        />
        <div className="charts">
          {metricKeys.map((key) => (
            <LazyMetricChart key={key} runs={list.filter((_, i) => metrics[i][key] !== undefined)} metricKey={key} />
          ))}
        </div>
      </section>
      <section aria-labelledby="compare-scatter">
        <h2 id="compare-scatter">Scatter plot</h2>
        <ScatterPlot runs={list} />
      </section>
      <section aria-labelledby="compare-parallel">
        <h2 id="compare-parallel">Parallel coordinates</h2>
        <div className="compare-scroll">
          <ParallelCoordinates runs={list} />
        </div>
      </section>
    </article>
  );
}
