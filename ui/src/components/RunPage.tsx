// One run: overview, note, params, metrics with charts, tags (editable), dataset inputs,
// artifacts. A RUNNING run is fetched again every few seconds, charts included.
import { useEffect, useState } from "react";
import { deleteTag, getRun, searchRuns, setTag } from "../api/client";
import { saveFile } from "../download";
import type { Run } from "../api/types";
import { ErrorBox, Loading, useAsync } from "../common";
import {
  formatDuration,
  formatMetric,
  formatTime,
  metricsOf,
  PARENT_TAG,
  runDisplayName,
  runId,
  tagsOf,
} from "../format";
import { buildHash } from "../router";
import { ArtifactBrowser } from "./ArtifactBrowser";
import { sourceName, StatusBadge } from "./columns";
import { KeyValueTable } from "./KeyValueTable";
import { LazyMetricChart } from "./LazyMetricChart";
import { NoteEditor } from "./NoteEditor";
import { LIVE_POLL_MS } from "./RunsView";
import { TagEditor } from "./TagEditor";

interface Props {
  runId: string;
  artifactPath: string;
}

function RunLink({ id, label }: { id: string; label?: string }) {
  return <a href={buildHash(["runs", id])}>{label ?? id}</a>;
}

/** The runs whose parent is ``run`` (in the run's own experiment). */
function useChildren(run: Run | undefined) {
  return useAsync(async () => {
    if (!run) return [];
    const page = await searchRuns({
      experiment_ids: [run.info.experiment_id],
      filter: `tags.\`${PARENT_TAG}\` = '${runId(run)}'`,
      max_results: 1000,
    });
    return page.runs ?? [];
  }, [run && runId(run)]);
}

export function RunPage({ runId: id, artifactPath }: Props) {
  const run = useAsync(() => getRun(id), [id]);
  const children = useChildren(run.data);
  const [tick, setTick] = useState(0);
  const running = run.data?.info.status === "RUNNING";
  const { reload } = run;
  useEffect(() => {
    if (!running) return;
    const timer = window.setInterval(() => {
      reload();
      setTick((t) => t + 1);
    }, LIVE_POLL_MS);
    return () => window.clearInterval(timer);
  }, [running, reload]);
  if (run.error) return <ErrorBox error={run.error} />;
  if (!run.data) return <Loading what="run" />;
  const r = run.data;
  const tags = tagsOf(r);
  const metrics = Object.values(metricsOf(r)).sort((a, b) => a.key.localeCompare(b.key));
  const parent = tags[PARENT_TAG];
  const datasets = r.inputs?.dataset_inputs ?? [];

  return (
    <article className="run-page" data-run-id={id}>
      <nav className="crumbs">
        <a href={buildHash(["experiments", r.info.experiment_id])}>Experiment {r.info.experiment_id}</a> ›
      </nav>
      <h1>
        {runDisplayName(r)}
        {running && <span className="live-badge">● live</span>}
      </h1>
      <div className="run-actions">
        <button type="button" onClick={() => saveFile(`run-${id}.json`, JSON.stringify(r, null, 2) + "\n", "application/json")}>
          Download JSON
        </button>
      </div>

      <section aria-labelledby="overview-heading">
        <h2 id="overview-heading">Overview</h2>
        <dl className="overview">
          <dt>Run ID</dt>
          <dd>{id}</dd>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={r.info.status} />
          </dd>
          <dt>Started</dt>
          <dd>{formatTime(r.info.start_time)}</dd>
          <dt>Ended</dt>
          <dd>{formatTime(r.info.end_time)}</dd>
          <dt>Duration</dt>
          <dd>{formatDuration(r.info.start_time, r.info.end_time)}</dd>
          <dt>User</dt>
          <dd>{r.info.user_id}</dd>
          <dt>Source</dt>
          <dd title={tags["mlflow.source.name"]}>{sourceName(tags)}</dd>
          <dt>Git commit</dt>
          <dd className="mono">{tags["mlflow.source.git.commit"] ?? ""}</dd>
          <dt>Parent run</dt>
          <dd>{parent ? <RunLink id={parent} /> : "—"}</dd>
          <dt>Child runs</dt>
          <dd className="children">
            {children.error ? (
              <ErrorBox error={children.error} />
            ) : children.loading && !children.data ? (
              "…"
            ) : children.data && children.data.length > 0 ? (
              children.data.map((c) => <RunLink key={runId(c)} id={runId(c)} label={runDisplayName(c)} />)
            ) : (
              "—"
            )}
          </dd>
        </dl>
      </section>

      <NoteEditor runId={id} note={tags["mlflow.note.content"] ?? ""} onSaved={run.reload} />

      <section aria-labelledby="params-heading">
        <h2 id="params-heading">Parameters ({r.data?.params?.length ?? 0})</h2>
        <KeyValueTable label="Parameters" rows={(r.data?.params ?? []).map((p) => [p.key, p.value])} />
      </section>

      <section aria-labelledby="metrics-heading">
        <h2 id="metrics-heading">Metrics ({metrics.length})</h2>
        <KeyValueTable label="Metrics" rows={metrics.map((m) => [m.key, formatMetric(m.value)])} />
        <div className="charts">
          {metrics.map((m) => (
            <LazyMetricChart key={m.key} runs={[r]} metricKey={m.key} refreshKey={tick} />
          ))}
        </div>
      </section>

      <section aria-labelledby="tags-heading">
        <h2 id="tags-heading">Tags</h2>
        <TagEditor
          save={(key, value) => setTag(id, key, value)}
          remove={(key) => deleteTag(id, key)}
          onChanged={run.reload}
          tags={Object.entries(tags)
            .filter(([k]) => k !== "mlflow.note.content")
            .sort(([a], [b]) => a.localeCompare(b))}
        />
      </section>

      <section aria-labelledby="datasets-heading">
        <h2 id="datasets-heading">Dataset inputs ({datasets.length})</h2>
        {datasets.length === 0 ? (
          <p className="muted">No datasets logged.</p>
        ) : (
          <table className="kv datasets" aria-label="Dataset inputs">
            <thead>
              <tr>
                <th>Name</th>
                <th>Digest</th>
                <th>Source type</th>
                <th>Source</th>
                <th>Context</th>
                <th>Schema</th>
              </tr>
            </thead>
            <tbody>
              {datasets.map((d, i) => (
                <tr key={i}>
                  <td>{d.dataset.name}</td>
                  <td className="mono">{d.dataset.digest}</td>
                  <td>{d.dataset.source_type}</td>
                  <td className="wrap">{d.dataset.source}</td>
                  <td>{(d.tags ?? []).find((t) => t.key === "mlflow.data.context")?.value ?? ""}</td>
                  <td>
                    {d.dataset.schema ? (
                      <details>
                        <summary>schema</summary>
                        <pre>{prettyJson(d.dataset.schema)}</pre>
                      </details>
                    ) : (
                      ""
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <ArtifactBrowser run={r} selectedPath={artifactPath} />
    </article>
  );
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
