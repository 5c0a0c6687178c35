// The runs of the selected experiments: search box, column picker, and a virtualised,
// sortable, nested table. Its state (filter, sort, columns, selection, deleted view)
// lives in the URL. Selected runs can be deleted or restored; the loaded rows download
// as CSV; running runs refresh themselves every few seconds.
import { useEffect, useMemo, useState } from "react";
import { deleteRun, getExperiment, restoreRun, searchRuns } from "../api/client";
import { runsCsv, saveFile } from "../download";
import { runId } from "../format";
import { ErrorBox, Loading, useAsync } from "../common";
import { buildHash, navigate, updateQuery } from "../router";
import { ColumnPicker } from "./ColumnPicker";
import { ExperimentTags } from "./ExperimentTags";
import { ATTRIBUTE_COLUMNS, availableKeys, columnById, defaultPicked, NAME_COLUMN, pickedColumn, type Column } from "./columns";
import { ACTIVE_ONLY, DELETED_ONLY, flattenRunTree, useRunPages } from "./runsData";
import { RunsTable } from "./RunsTable";

// How often running runs are fetched again, and how many at most per poll.
export const LIVE_POLL_MS = 3000;
const LIVE_MAX_RUNS = 100;

interface Props {
  experimentIds: string[];
  query: URLSearchParams;
}

function listParam(query: URLSearchParams, name: string): string[] {
  return (query.get(name) ?? "").split(",").filter(Boolean);
}

export function RunsView({ experimentIds, query }: Props) {
  const filter = query.get("filter") ?? "";
  const sort = query.get("sort") ?? "";
  const descending = query.get("dir") !== "asc";
  const selected = useMemo(() => new Set(listParam(query, "sel")), [query]);
  const [draft, setDraft] = useState(filter);
  const [pickerOpen, setPickerOpen] = useState(false);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  useEffect(() => setDraft(filter), [filter]);

  const experiments = useAsync(() => Promise.all(experimentIds.map(getExperiment)), [experimentIds.join(",")]);

  // an unknown or unsortable column in a hand-edited URL falls back to the server's order
  const sortKey = useMemo(() => (sort ? columnById(sort)?.sortKey : undefined) ?? "", [sort]);
  const orderBy = useMemo(() => (sortKey ? [`${sortKey} ${descending ? "DESC" : "ASC"}`] : []), [sortKey, descending]);
  const showDeleted = query.get("deleted") === "1";
  const pages = useRunPages(experimentIds, filter, orderBy, showDeleted ? DELETED_ONLY : ACTIVE_ONLY);
  const [actionError, setActionError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);

  // Live: while any loaded run is RUNNING, fetch those runs again every few seconds.
  const runningIds = useMemo(
    () => pages.runs.filter((r) => r.info.status === "RUNNING").map(runId).slice(0, LIVE_MAX_RUNS),
    [pages.runs],
  );
  const runningKey = runningIds.join(",");
  const { patch } = pages;
  useEffect(() => {
    if (!runningKey) return;
    const ids = runningKey.split(",");
    let stopped = false;
    const timer = window.setInterval(() => {
      searchRuns({
        experiment_ids: experimentIds,
        filter: `attributes.run_id IN (${ids.map((id) => `'${id}'`).join(", ")})`,
        run_view_type: showDeleted ? DELETED_ONLY : ACTIVE_ONLY,
        max_results: ids.length,
      }).then(
        (page) => !stopped && patch(page.runs ?? []),
        () => undefined, // a missed poll is retried at the next tick
      );
    }, LIVE_POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [runningKey, experimentIds.join(","), showDeleted, patch]); // eslint-disable-line react-hooks/exhaustive-deps

  const keys = useMemo(() => availableKeys(pages.runs), [pages.runs]);
  const picked = query.has("cols") ? listParam(query, "cols") : defaultPicked(keys);
  const rows = useMemo(() => flattenRunTree(pages.runs, expanded), [pages.runs, expanded]);

  const applyFilter = (text: string) => updateQuery({ filter: text.trim() || undefined }, false);
  const onSort = (column: Column) => {
    const id = column.id;
    const nextDescending = sort === id ? !descending : true;
    updateQuery({ sort: id, dir: nextDescending ? "desc" : "asc" }, false);
  };
  const setSelected = (ids: Set<string>) => updateQuery({ sel: ids.size ? [...ids].join(",") : undefined });
  const toggleExpanded = (id: string) =>
    setExpanded((old) => {
      const next = new Set(old);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const names = experiments.data?.map((e) => e.name) ?? [];
  const experimentNames = Object.fromEntries((experiments.data ?? []).map((e) => [e.experiment_id, e.name]));
  const pickedColumns = picked.map(pickedColumn).filter((c): c is Column => c !== undefined);

  /** Delete or restore every selected run, then show the table as the server has it. */
  const applyToSelected = (action: (id: string) => Promise<unknown>) => {
    setBusy(true);
    setActionError(undefined);
    Promise.all([...selected].map(action))
      .then(
        () => updateQuery({ sel: undefined }),
        (err: Error) => setActionError(err),
      )
      .finally(() => {
        setBusy(false);
        pages.reload();
      });
  };

  const downloadCsv = () => {
    const columns = [
      NAME_COLUMN,
      { id: "run_id", label: "Run ID" },
      ...(experimentIds.length > 1 ? [{ id: "experiment", label: "Experiment" }] : []),
      ...ATTRIBUTE_COLUMNS,
      ...pickedColumns,
    ];
    const name = `runs-${experimentIds.join("-")}.csv`;
    saveFile(name, runsCsv(pages.runs, columns, experimentNames), "text/csv");
  };

  return (
    <section className="runs-view">
      <header className="runs-header-bar">
        <h1>{names.length ? names.join(", ") : "Runs"}</h1>
        {experiments.error && <ErrorBox error={experiments.error} />}
      </header>
      {experiments.data?.length === 1 && <ExperimentTags experiment={experiments.data[0]} onChanged={experiments.reload} />}
      <form
        className="run-search"
        onSubmit={(e) => {
          e.preventDefault();
          applyFilter(draft);
        }}
      >
        <input
          type="search"
          className="run-filter"
          aria-label="Filter runs"
          placeholder={"metrics.rmse < 1 and params.model = 'tree'"}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
        <button type="submit">Search</button>
        {filter && (
          <button type="button" onClick={() => applyFilter("")}>
            Clear
          </button>
        )}
        <button type="button" onClick={() => setPickerOpen((o) => !o)} aria-expanded={pickerOpen}>
          Columns
        </button>
        <button
          type="button"
          className="primary"
          disabled={selected.size < 2}
          onClick={() => navigate(buildHash(["compare"], { runs: [...selected].join(",") }))}
        >
          Compare ({selected.size})
        </button>
        {showDeleted ? (
          <button type="button" disabled={selected.size === 0 || busy} onClick={() => applyToSelected(restoreRun)}>
            Restore ({selected.size})
          </button>
        ) : (
          <button type="button" disabled={selected.size === 0 || busy} onClick={() => applyToSelected(deleteRun)}>
            Delete ({selected.size})
          </button>
        )}
        <button type="button" disabled={pages.runs.length === 0} onClick={downloadCsv} title="The loaded runs and shown columns">
          Download CSV
        </button>
        <label className="show-deleted-runs">
          <input
            type="checkbox"
            checked={showDeleted}
            onChange={(e) => updateQuery({ deleted: e.target.checked ? "1" : undefined, sel: undefined }, false)}
          />{" "}
          Deleted runs
        </label>
      </form>
      {actionError && <ErrorBox error={actionError} />}
      {pickerOpen && (
        <ColumnPicker
          keys={keys}
          picked={picked}
          onChange={(cols) => updateQuery({ cols: cols.join(",") })}
          onClose={() => setPickerOpen(false)}
        />
      )}
      {pages.error && <ErrorBox error={pages.error} />}
      <RunsTable
        rows={rows}
        pickedColumns={pickedColumns}
        experimentNames={experimentIds.length > 1 ? experimentNames : undefined}
        sort={sort}
        descending={descending}
        onSort={onSort}
        selected={selected}
        onSelect={setSelected}
        onToggleExpanded={toggleExpanded}
        onNearEnd={pages.loadMore}
        emptyText={pages.loading || pages.error ? "" : filter ? "No runs match the filter." : "No runs."}
      />
      <footer className="runs-status" aria-live="polite">
        {pages.loading ? (
          <Loading what="runs" />
        ) : (
          !pages.error && (
            <span className="run-count">
              {pages.runs.length} {showDeleted ? "deleted " : ""}runs{pages.hasMore ? " loaded, more on scroll" : ""}
            </span>
          )
        )}
        {runningIds.length > 0 && <span className="live-badge">● live: {runningIds.length} running</span>}
      </footer>
    </section>
  );
}
