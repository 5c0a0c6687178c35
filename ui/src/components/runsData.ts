// Loading runs page by page, and arranging them as a tree of parent and child runs.
import { useCallback, useEffect, useRef, useState } from "react";
import { searchRuns } from "../api/client";
import type { Run } from "../api/types";
import { PARENT_TAG, runId, tagsOf } from "../format";

export const RUNS_PAGE_SIZE = 1000;

export interface RunPages {
  runs: Run[];
  loading: boolean;
  error: Error | undefined;
  hasMore: boolean;
  loadMore: () => void;
  /** Start again from the first page. */
  reload: () => void;
  /** Replace loaded runs by newer copies of themselves (same ids), keeping their order. */
  patch: (fresh: Run[]) => void;
}

// MLflow's ViewType values on the wire
export const ACTIVE_ONLY = 1;
export const DELETED_ONLY = 2;

/** Runs of ``experimentIds`` matching ``filter`` in ``orderBy`` order, a page at a time. */
export function useRunPages(experimentIds: string[], filter: string, orderBy: string[], viewType = ACTIVE_ONLY): RunPages {
  const [runs, setRuns] = useState<Run[]>([]);
  const [token, setToken] = useState<string | undefined>();
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const generation = useRef(0);
  const inFlight = useRef(false);
  const [version, setVersion] = useState(0);
  const key = JSON.stringify([experimentIds, filter, orderBy, viewType, version]);

  const fetchPage = useCallback(
    (pageToken: string | undefined) => {
      const mine = generation.current;
      inFlight.current = true;
      setLoading(true);
      searchRuns({
        experiment_ids: experimentIds,
        filter: filter || undefined,
        order_by: orderBy,
        run_view_type: viewType,
        max_results: RUNS_PAGE_SIZE,
        page_token: pageToken,
      }).then(
        (page) => {
          if (mine !== generation.current) return;
          inFlight.current = false;
          setRuns((old) => (pageToken ? [...old, ...(page.runs ?? [])] : (page.runs ?? [])));
          setToken(page.next_page_token || undefined);
          setLoading(false);
        },
        (err: Error) => {
          if (mine !== generation.current) return;
          inFlight.current = false;
          setError(err);
          setLoading(false);
        },
      );
    },
    [key], // eslint-disable-line react-hooks/exhaustive-deps
  );

  useEffect(() => {
    generation.current += 1;
    setRuns([]);
    setToken(undefined);
    setError(undefined);
    if (experimentIds.length === 0) {
      inFlight.current = false;
      setLoading(false);
      return;
    }
    fetchPage(undefined);
  }, [fetchPage]); // eslint-disable-line react-hooks/exhaustive-deps

  const loadMore = useCallback(() => {
    if (!inFlight.current && token) fetchPage(token);
  }, [fetchPage, token]);

  const reload = useCallback(() => setVersion((v) => v + 1), []);
  const patch = useCallback((fresh: Run[]) => {
    if (fresh.length === 0) return;
    const byId = new Map(fresh.map((r) => [runId(r), r]));
    setRuns((old) => old.map((r) => byId.get(runId(r)) ?? r));
  }, []);

  return { runs, loading, error, hasMore: token !== undefined, loadMore, reload, patch };
}

export interface RunRow {
  run: Run;
  id: string;
  depth: number;
  childCount: number;
  expanded: boolean;
}

/**
 * The rows to show: runs in server order, each child under its parent when the parent is
 * loaded too (at any depth), children of collapsed parents hidden.
 */
export function flattenRunTree(runs: Run[], expanded: ReadonlySet<string>): RunRow[] {
  const byId = new Map<string, Run>();
  for (const run of runs) byId.set(runId(run), run);
  const children = new Map<string, Run[]>();
  const roots: Run[] = [];
  const parentOf = (run: Run): string | undefined => {
    const parent = tagsOf(run)[PARENT_TAG];
    return parent && byId.has(parent) ? parent : undefined;
  };
  // A run whose chain of loaded parents loops back to itself (corrupt tags) is a root.
  const inCycle = (run: Run): boolean => {
    const start = runId(run);
    const seen = new Set<string>();
    for (let id = parentOf(run); id !== undefined; id = parentOf(byId.get(id)!)) {
      if (id === start) return true;
      if (seen.has(id)) return false;
      seen.add(id);
    }
    return false;
  };
  for (const run of runs) {
    const parent = parentOf(run);
    if (parent && !inCycle(run)) {
      const list = children.get(parent);
      if (list) list.push(run);
      else children.set(parent, [run]);
    } else {
      roots.push(run);
    }
  }
  const rows: RunRow[] = [];
  const seen = new Set<string>();
  const visit = (run: Run, depth: number) => {
    const id = runId(run);
    if (seen.has(id)) return;
    seen.add(id);
    const kids = children.get(id) ?? [];
    const open = expanded.has(id);
    rows.push({ run, id, depth, childCount: kids.length, expanded: open });
    if (open) for (const kid of kids) visit(kid, depth + 1);
  };
  for (const run of roots) visit(run, 0);
  return rows;
}
