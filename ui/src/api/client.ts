// The only module that talks to the server: MLflow's REST API under ajax-api/2.0/mlflow.
import type {
  DownsampledHistoryResponse,
  Experiment,
  GetMetricHistoryResponse,
  ListArtifactsResponse,
  Metric,
  Run,
  RunResponse,
  SearchExperimentsRequest,
  SearchExperimentsResponse,
  SearchRunsRequest,
  SearchRunsResponse,
} from "./types";

/** A failed call, carrying the server's MLflow error code and message. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

// Relative, so the UI keeps working when served under a path prefix.
const API_BASE = "ajax-api/2.0/mlflow";
// Cairn's own UI support endpoints (documented in cairn.server.ui_api).
const CAIRN_BASE = "ajax-api/2.0/cairn";

type Query = Record<string, string | number | string[] | undefined | null>;

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function call<T>(
  method: "GET" | "POST",
  path: string,
  payload: Query | object = {},
  base: string = API_BASE,
): Promise<T> {
  const url = method === "GET" ? `${base}/${path}${queryString(payload as Query)}` : `${base}/${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: method === "POST" ? { "Content-Type": "application/json" } : undefined,
      body: method === "POST" ? JSON.stringify(payload) : undefined,
    });
  } catch (err) {
    throw new ApiError("NETWORK_ERROR", `Cannot reach the server: ${String(err)}`, 0);
  }
  const text = await response.text();
  let body: unknown = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    if (response.ok) throw new ApiError("BAD_RESPONSE", "The server sent a response that is not JSON.", response.status);
  }
  if (!response.ok) {
    const error = body as { error_code?: string; message?: string };
    throw new ApiError(
      error.error_code ?? `HTTP_${response.status}`,
      error.message ?? (text.slice(0, 500) || response.statusText),
      response.status,
    );
  }
  return body as T;
}

export function searchExperiments(request: SearchExperimentsRequest): Promise<SearchExperimentsResponse> {
  return call("POST", "experiments/search", request);
}

export function searchRuns(request: SearchRunsRequest): Promise<SearchRunsResponse> {
  return call("POST", "runs/search", request);
}

export async function getRun(runId: string): Promise<Run> {
  const response = await call<RunResponse>("GET", "runs/get", { run_id: runId });
  return response.run;
}

export function setTag(runId: string, key: string, value: string): Promise<unknown> {
  return call("POST", "runs/set-tag", { run_id: runId, key, value });
}

// The server caps one page of metric history; longer histories come in several pages.
const HISTORY_PAGE = 25000;

/** Every logged value of one metric of one run, in the order the server returns them. */
export async function getMetricHistory(runId: string, key: string): Promise<Metric[]> {
  const points: Metric[] = [];
  let pageToken: string | undefined;
  do {
    const page = await call<GetMetricHistoryResponse>("GET", "metrics/get-history", {
      run_id: runId,
      metric_key: key,
      max_results: HISTORY_PAGE,
      page_token: pageToken,
    });
    points.push(...(page.metrics ?? []));
    pageToken = page.next_page_token ?? undefined;
  } while (pageToken);
  return points;
}

export function listArtifacts(runId: string, path: string): Promise<ListArtifactsResponse> {
  return call("GET", "artifacts/list", { run_id: runId, path: path || undefined });
}

/**
 * Where to download one artifact of a run. Runs stored behind the server's artifact proxy
 * (``mlflow-artifacts:`` URIs) are read through the proxy; any other store through
 * MLflow's ``get-artifact`` route.
 */
export function artifactUrl(run: Run, path: string): string {
  const root = run.info.artifact_uri ?? "";
  const match = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(root);
  if (match) {
    const full = [match[1].replace(/\/+$/, ""), path].filter(Boolean).join("/");
    return `ajax-api/2.0/mlflow-artifacts/artifacts/${full.split("/").map(encodeURIComponent).join("/")}`;
  }
  const runId = run.info.run_id ?? run.info.run_uuid ?? "";
  return `get-artifact${queryString({ path, run_uuid: runId })}`;
}

/** The text of an artifact, for previews. */
export async function fetchArtifactText(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) {
    const text = await response.text();
    let message = text.slice(0, 500) || response.statusText;
    let code = `HTTP_${response.status}`;
    try {
      const body = JSON.parse(text) as { error_code?: string; message?: string };
      code = body.error_code ?? code;
      message = body.message ?? message;
    } catch {
      // not JSON: keep the raw text
    }
    throw new ApiError(code, message, response.status);
  }
  return response.text();
}

export async function getExperiment(experimentId: string): Promise<Experiment> {
  const response = await call<{ experiment: Experiment }>("GET", "experiments/get", { experiment_id: experimentId });
  return response.experiment;
}

export async function createExperiment(name: string): Promise<string> {
  const response = await call<{ experiment_id: string }>("POST", "experiments/create", { name });
  return response.experiment_id;
}

export function renameExperiment(experimentId: string, newName: string): Promise<unknown> {
  return call("POST", "experiments/update", { experiment_id: experimentId, new_name: newName });
}

export function deleteExperiment(experimentId: string): Promise<unknown> {
  return call("POST", "experiments/delete", { experiment_id: experimentId });
}

export function restoreExperiment(experimentId: string): Promise<unknown> {
  return call("POST", "experiments/restore", { experiment_id: experimentId });
}

export function deleteRun(runId: string): Promise<unknown> {
  return call("POST", "runs/delete", { run_id: runId });
}

export function restoreRun(runId: string): Promise<unknown> {
  return call("POST", "runs/restore", { run_id: runId });
}

export function deleteTag(runId: string, key: string): Promise<unknown> {
  return call("POST", "runs/delete-tag", { run_id: runId, key });
}

export interface HistoryRange {
  startStep?: number;
  endStep?: number;
}

/**
 * One metric of one run as min/max buckets (at most ``maxPoints``) over a step range:
 * the server keeps every extreme, so a spike in a million points still shows.
 */
export function getHistoryDownsampled(
  runId: string,
  key: string,
  maxPoints: number,
  range: HistoryRange = {},
): Promise<DownsampledHistoryResponse> {
  const query = {
    run_id: runId,
    metric_key: key,
    max_points: maxPoints,
    start_step: range.startStep,
    end_step: range.endStep,
  };
  return call("GET", "metrics/get-history-downsampled", query, CAIRN_BASE);
}

/** Where to download an artifact directory of a run (the whole run for "") as a zip. */
export function artifactZipUrl(runId: string, path: string): string {
  return `${CAIRN_BASE}/artifacts/download-zip${queryString({ run_id: runId, path: path || undefined })}`;
}

export function setExperimentTag(experimentId: string, key: string, value: string): Promise<unknown> {
  return call("POST", "experiments/set-experiment-tag", { experiment_id: experimentId, key, value });
}

export function deleteExperimentTag(experimentId: string, key: string): Promise<unknown> {
  return call("POST", "experiments/delete-experiment-tag", { experiment_id: experimentId, key });
}
