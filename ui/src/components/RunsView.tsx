// The runs of the selected experiments: search box, column picker, and a virtualised,
// sortable, nested table. Its state (filter, sort, columns, selection) lives in the URL.
import { useEffect, useMemo, useState } from "react";
import { getExperiment } from "../api/client";
import { ErrorBox, Loading, useAsync } from "../common";
import { buildHash, navigate, updateQuery } from "../router";
import { ColumnPicker } from "./ColumnPicker";
import { availableKeys, columnById, defaultPicked, pickedColumn, type Column } from "./columns";
import { flattenRunTree, useRunPages } from "./runsData";
import { RunsTable } from "./RunsTable";

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
  const pages = useRunPages(experimentIds, filter, orderBy);

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

  return (
    <section className="runs-view">
      <header className="runs-header-bar">
        <h1>{names.length ? names.join(", ") : "Runs"}</h1>
        {experiments.error && <ErrorBox error={experiments.error} />}
      </header>
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
      </form>
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
        pickedColumns={picked.map(pickedColumn).filter((c): c is Column => c !== undefined)}
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
              {pages.runs.length} runs{pages.hasMore ? " loaded, more on scroll" : ""}
            </span>
          )
        )}
      </footer>
    </section>
  );
}
