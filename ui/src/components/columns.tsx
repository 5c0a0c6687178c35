// The runs table's columns: fixed run attributes plus the params, metrics and tags the
// user picks. A picked column's id is "<entity>.<key>" (metrics.acc, params.lr, tags.team).
import type { ReactNode } from "react";
import type { Run } from "../api/types";
import { formatDuration, formatMetric, formatTime, metricsOf, paramsOf, tagsOf } from "../format";

export interface Column {
  id: string;
  label: string;
  width: number;
  /** The order_by identifier that sorts by this column, if the server can. */
  sortKey?: string;
  value: (run: Run) => ReactNode;
}

export type PickedEntity = "metrics" | "params" | "tags";

const quoted = (key: string) => "`" + key + "`";

export const ATTRIBUTE_COLUMNS: Column[] = [
  { id: "status", label: "Status", width: 96, sortKey: "attributes.status", value: (r) => <StatusBadge status={r.info.status} /> },
  { id: "start_time", label: "Created", width: 160, sortKey: "attributes.start_time", value: (r) => formatTime(r.info.start_time) },
  { id: "duration", label: "Duration", width: 96, value: (r) => formatDuration(r.info.start_time, r.info.end_time) },
  { id: "user_id", label: "User", width: 110, sortKey: "attributes.user_id", value: (r) => r.info.user_id ?? "" },
  { id: "source", label: "Source", width: 150, value: (r) => sourceName(tagsOf(r)) },
];

/** The run name column (drawn by the table itself: indentation, expander, link). */
export const NAME_COLUMN: Column = { id: "run_name", label: "Run name", width: 260, sortKey: "attributes.run_name", value: () => null };

/** Any column by id: the run name, an attribute, or a picked param/metric/tag. */
export function columnById(id: string): Column | undefined {
  if (id === NAME_COLUMN.id) return NAME_COLUMN;
  return ATTRIBUTE_COLUMNS.find((c) => c.id === id) ?? (id.includes(".") ? pickedColumn(id) : undefined);
}

export function StatusBadge({ status }: { status: string | null | undefined }) {
  const s = status ?? "";
  return <span className={`status status-${s.toLowerCase()}`}>{s}</span>;
}

export function sourceName(tags: Record<string, string>): string {
  const source = tags["mlflow.source.name"] ?? "";
  return source.split(/[\\/]/).pop() ?? source;
}

/** The column for one picked param, metric or tag, or undefined for a malformed id. */
export function pickedColumn(id: string): Column | undefined {
  const dot = id.indexOf(".");
  const entity = id.slice(0, dot) as PickedEntity;
  const key = id.slice(dot + 1);
  if (dot < 0 || !key) return undefined;
  const sortKey = `${entity}.${quoted(key)}`;
  if (entity === "metrics")
    return { id, label: key, width: 120, sortKey, value: (r) => formatMetric(metricsOf(r)[key]?.value) };
  if (entity === "params") return { id, label: key, width: 120, sortKey, value: (r) => paramsOf(r)[key] ?? "" };
  if (entity === "tags") return { id, label: key, width: 130, sortKey, value: (r) => tagsOf(r)[key] ?? "" };
  return undefined;
}

/** Every param, metric and tag key present in ``runs``, sorted, for the column picker. */
export function availableKeys(runs: Run[]): Record<PickedEntity, string[]> {
  const metrics = new Set<string>();
  const params = new Set<string>();
  const tags = new Set<string>();
  for (const run of runs) {
    for (const m of run.data?.metrics ?? []) metrics.add(m.key);
    for (const p of run.data?.params ?? []) params.add(p.key);
    for (const t of run.data?.tags ?? []) tags.add(t.key);
  }
  const sorted = (s: Set<string>) => [...s].sort((a, b) => a.localeCompare(b));
  return { metrics: sorted(metrics), params: sorted(params), tags: sorted(tags) };
}

/** What to show before the user has picked: a few metrics and params. */
export function defaultPicked(keys: Record<PickedEntity, string[]>): string[] {
  return [...keys.metrics.slice(0, 4).map((k) => `metrics.${k}`), ...keys.params.slice(0, 4).map((k) => `params.${k}`)];
}
