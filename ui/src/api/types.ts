// Wire types, taken from the OpenAPI document the server generates (schema.ts, written by
// `npm run gen-api`). Responses omit empty and default fields, as MLflow's do, so code
// reading them treats every optional field as possibly absent.
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Experiment = Schemas["Experiment"];
export type Run = Schemas["Run"];
export type RunInfo = Schemas["RunInfo"];
export type Metric = Schemas["Metric"];
export type Param = Schemas["Param"];
export type RunTag = Schemas["RunTag"];
export type DatasetInput = Schemas["DatasetInput"];
export type FileInfo = Schemas["FileInfo"];
export type SearchExperimentsResponse = Schemas["SearchExperimentsResponse"];
export type SearchRunsResponse = Schemas["SearchRunsResponse"];
export type RunResponse = Schemas["RunResponse"];
export type GetMetricHistoryResponse = Schemas["GetMetricHistoryResponse"];
export type ListArtifactsResponse = Schemas["ListArtifactsResponse"];

/** Request messages: every field the server defaults may be left out. */
export type SearchRunsRequest = Partial<Schemas["SearchRuns"]>;
export type SearchExperimentsRequest = Partial<Schemas["SearchExperiments"]>;
export type HistoryBucket = Schemas["HistoryBucket"];
export type DownsampledHistoryResponse = Schemas["DownsampledHistoryResponse"];
