// Files the UI makes in the browser: the runs table as CSV, a run as JSON.
import type { Run } from "./api/types";
import { formatDuration, formatTime, metricsOf, paramsOf, runDisplayName, runId, tagsOf } from "./format";
import { sourceName } from "./components/columns";

/** Offer ``content`` to the user as a file called ``name``. */
export function saveFile(name: string, content: string, type: string): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // give the download time to start before the URL is released
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** One CSV field, quoted when it must be (RFC 4180). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function toCsv(rows: string[][]): string {
  return rows.map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** The text of a runs-table column for one run: raw numbers, not display formatting. */
export function columnText(id: string, run: Run, experimentNames?: Record<string, string>): string {
  switch (id) {
    case "run_name":
      return runDisplayName(run);
    case "run_id":
      return runId(run);
    case "experiment":
      return experimentNames?.[run.info.experiment_id] ?? run.info.experiment_id;
    case "status":
      return run.info.status ?? "";
    case "start_time":
      return formatTime(run.info.start_time);
    case "duration":
      return formatDuration(run.info.start_time, run.info.end_time);
    case "user_id":
      return run.info.user_id ?? "";
    case "source":
      return sourceName(tagsOf(run));
  }
  const dot = id.indexOf(".");
  const entity = id.slice(0, dot);
  const key = id.slice(dot + 1);
  if (entity === "metrics") {
    const value = metricsOf(run)[key]?.value;
    return value === undefined || value === null ? "" : String(value);
  }
  if (entity === "params") return paramsOf(run)[key] ?? "";
  if (entity === "tags") return tagsOf(run)[key] ?? "";
  return "";
}

/** The runs as CSV: a header of column labels, then a line per run. */
export function runsCsv(runs: Run[], columns: { id: string; label: string }[], experimentNames?: Record<string, string>): string {
  const header = columns.map((c) => (c.id.includes(".") ? c.id : c.label));
  return toCsv([header, ...runs.map((run) => columns.map((c) => columnText(c.id, run, experimentNames)))]);
}
