// The experiments list: server-side name search, paged, single or multiple selection;
// create, rename, delete, and restore from the deleted list.
import { useEffect, useRef, useState } from "react";
import { createExperiment, deleteExperiment, renameExperiment, restoreExperiment, searchExperiments } from "../api/client";
import type { Experiment } from "../api/types";
import { ErrorBox, Loading } from "../common";

const PAGE_SIZE = 100;
// MLflow's ViewType values on the wire
const ACTIVE_ONLY = 1;
const DELETED_ONLY = 2;

/** A filter matching names containing ``text``, quoted so the grammar accepts it. */
export function nameFilter(text: string): string | undefined {
  const q = text.trim();
  if (!q) return undefined;
  const quote = q.includes("'") ? '"' : "'";
  return `name ILIKE ${quote}%${q.replaceAll(quote, "")}%${quote}`;
}

interface Props {
  selected: string[];
  onSelect: (ids: string[]) => void;
}

export function ExperimentSidebar({ selected, onSelect }: Props) {
  const [search, setSearch] = useState("");
  const [query, setQuery] = useState("");
  const [experiments, setExperiments] = useState<Experiment[]>([]);
  const [nextToken, setNextToken] = useState<string | undefined>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<Error | undefined>();
  const [showDeleted, setShowDeleted] = useState(false);
  const [creating, setCreating] = useState(false);
  const [newName, setNewName] = useState("");
  const [renaming, setRenaming] = useState<string | undefined>();
  const [renameText, setRenameText] = useState("");
  const generation = useRef(0);

  const load = (token: string | undefined, append: boolean) => {
    const mine = ++generation.current;
    setLoading(true);
    setError(undefined);
    searchExperiments({
      filter: nameFilter(query),
      max_results: PAGE_SIZE,
      page_token: token,
      order_by: ["name ASC"],
      view_type: showDeleted ? DELETED_ONLY : ACTIVE_ONLY,
    }).then(
      (page) => {
        if (mine !== generation.current) return;
        setExperiments((old) => (append ? [...old, ...(page.experiments ?? [])] : (page.experiments ?? [])));
        setNextToken(page.next_page_token ?? undefined);
        setLoading(false);
      },
      (err: Error) => {
        if (mine !== generation.current) return;
        setError(err);
        setLoading(false);
      },
    );
  };

  useEffect(() => load(undefined, false), [query, showDeleted]); // eslint-disable-line react-hooks/exhaustive-deps

  /** Run a change, then show the list as the server now has it; errors go to the box. */
  const change = (work: () => Promise<unknown>, after?: () => void) => {
    setError(undefined);
    work().then(
      () => {
        after?.();
        load(undefined, false);
      },
      (err: Error) => setError(err),
    );
  };

  const create = () => {
    const name = newName.trim();
    if (!name) return;
    setError(undefined);
    createExperiment(name).then(
      (id) => {
        setCreating(false);
        setNewName("");
        load(undefined, false);
        onSelect([id]);
      },
      (err: Error) => setError(err),
    );
  };

  // Search as the user types, once they pause.
  useEffect(() => {
    const timer = window.setTimeout(() => setQuery(search), 250);
    return () => window.clearTimeout(timer);
  }, [search]);

  const toggle = (id: string) =>
    onSelect(selected.includes(id) ? selected.filter((s) => s !== id) : [...selected, id]);

  return (
    <aside className="sidebar" aria-label="Experiments">
      <div className="sidebar-head">
        <h2>Experiments</h2>
        <button type="button" className="small" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
          New
        </button>
      </div>
      {creating && (
        <form
          className="new-experiment"
          onSubmit={(e) => {
            e.preventDefault();
            create();
          }}
        >
          <input aria-label="New experiment name" placeholder="Name" value={newName} autoFocus onChange={(e) => setNewName(e.target.value)} />
          <button type="submit" className="small primary">
            Create
          </button>
        </form>
      )}
      <input
        type="search"
        className="experiment-search"
        placeholder="Search experiments"
        aria-label="Search experiments"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      {error && <ErrorBox error={error} />}
      <ul className="experiment-list">
        {experiments.map((e) =>
          renaming === e.experiment_id ? (
            <li key={e.experiment_id} data-experiment-id={e.experiment_id}>
              <form
                className="rename-experiment"
                onSubmit={(ev) => {
                  ev.preventDefault();
                  const name = renameText.trim();
                  if (name && name !== e.name) change(() => renameExperiment(e.experiment_id, name), () => setRenaming(undefined));
                  else setRenaming(undefined);
                }}
              >
                <input aria-label={`New name for ${e.name}`} value={renameText} autoFocus onChange={(ev) => setRenameText(ev.target.value)} />
                <button type="submit" className="small">
                  Save
                </button>
                <button type="button" className="small" onClick={() => setRenaming(undefined)}>
                  Cancel
                </button>
              </form>
            </li>
          ) : (
            <li key={e.experiment_id} className={selected.includes(e.experiment_id) ? "selected" : ""} data-experiment-id={e.experiment_id}>
              {showDeleted ? (
                <>
                  <span className="experiment-name deleted" title={e.name}>
                    {e.name}
                  </span>
                  <button className="small" aria-label={`Restore ${e.name}`} onClick={() => change(() => restoreExperiment(e.experiment_id))}>
                    Restore
                  </button>
                </>
              ) : (
                <>
                  <input
                    type="checkbox"
                    aria-label={`Add ${e.name} to the selection`}
                    checked={selected.includes(e.experiment_id)}
                    onChange={() => toggle(e.experiment_id)}
                  />
                  <button className="link experiment-name" title={e.name} onClick={() => onSelect([e.experiment_id])}>
                    {e.name}
                  </button>
                  <span className="item-actions">
                    <button
                      className="icon"
                      aria-label={`Rename ${e.name}`}
                      title="Rename"
                      onClick={() => {
                        setRenameText(e.name);
                        setRenaming(e.experiment_id);
                      }}
                    >
                      ✎
                    </button>
                    <button
                      className="icon"
                      aria-label={`Delete ${e.name}`}
                      title="Delete (restorable)"
                      onClick={() =>
                        change(
                          () => deleteExperiment(e.experiment_id),
                          () => selected.includes(e.experiment_id) && onSelect(selected.filter((s) => s !== e.experiment_id)),
                        )
                      }
                    >
                      🗑
                    </button>
                  </span>
                </>
              )}
            </li>
          ),
        )}
      </ul>
      {loading && <Loading what="experiments" />}
      {!loading && !error && experiments.length === 0 && <p className="muted">No experiments match.</p>}
      <label className="show-deleted">
        <input type="checkbox" checked={showDeleted} onChange={(e) => setShowDeleted(e.target.checked)} /> Show deleted experiments
      </label>
      {nextToken && !loading && (
        <button className="more" onClick={() => load(nextToken, true)}>
          Load more
        </button>
      )}
    </aside>
  );
}
