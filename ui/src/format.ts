// How values read on screen.
import type { Metric, Run } from "./api/types";

export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatDuration(start: number | null | undefined, end: number | null | undefined): string {
  if (!start || !end || end < start) return "";
  const total = end - start;
  if (total < 1000) return `${total}ms`;
  const seconds = Math.floor(total / 1000);
  if (seconds < 60) return `${(total / 1000).toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}min ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${minutes % 60}min`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** A metric value as a number; "NaN"/"Infinity" arrive as strings on the wire. */
export function metricNumber(value: number | string | null | undefined): number {
  if (typeof value === "number") return value;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return NaN;
}

export function formatMetric(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return "";
  const n = metricNumber(value);
  if (!Number.isFinite(n)) return String(value);
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 1e6 || Math.abs(n) < 1e-4 ? n.toExponential(4) : String(Number(n.toPrecision(6)));
}

export function runId(run: Run): string {
  return run.info.run_id ?? run.info.run_uuid ?? "";
}

export function tagsOf(run: Run): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of run.data?.tags ?? []) tags[t.key] = t.value;
  return tags;
}

export function paramsOf(run: Run): Record<string, string> {
  const params: Record<string, string> = {};
  for (const p of run.data?.params ?? []) params[p.key] = p.value;
  return params;
}

export function metricsOf(run: Run): Record<string, Metric> {
  const metrics: Record<string, Metric> = {};
  for (const m of run.data?.metrics ?? []) metrics[m.key] = m;
  return metrics;
}

export function runDisplayName(run: Run): string {
  return run.info.run_name || tagsOf(run)["mlflow.runName"] || runId(run);
}

export const PARENT_TAG = "mlflow.parentRunId";
export const NOTE_TAG = "mlflow.note.content";
