// The experiments list: server-side name search, paged, single or multiple selection.
import { useEffect, useRef, useState } from "react";
import { searchExperiments } from "../api/client";
import type { Experiment } from "../api/types";
import { ErrorBox, Loading } from "../common";

const PAGE_SIZE = 100;

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

  useEffect(() => load(undefined, false), [query]); // eslint-disable-line react-hooks/exhaustive-deps

  // Search as the user types, once they pause.
  useEffect(() => {
    const timer = window.setTimeout(() => setQuery(search), 250);
    return () => window.clearTimeout(timer);
  }, [search]);

  const toggle = (id: string) =>
    onSelect(selected.includes(id) ? selected.filter((s) => s !== id) : [...selected, id]);

  return (
    <aside className="sidebar" aria-label="Experiments">
      <h2>Experiments</h2>
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
        {experiments.map((e) => (
          <li key={e.experiment_id} className={selected.includes(e.experiment_id) ? "selected" : ""} data-experiment-id={e.experiment_id}>
            <input
              type="checkbox"
              aria-label={`Add ${e.name} to the selection`}
              checked={selected.includes(e.experiment_id)}
              onChange={() => toggle(e.experiment_id)}
            />
            <button className="link experiment-name" title={e.name} onClick={() => onSelect([e.experiment_id])}>
              {e.name}
            </button>
          </li>
        ))}
      </ul>
      {loading && <Loading what="experiments" />}
      {!loading && !error && experiments.length === 0 && <p className="muted">No experiments match.</p>}
      {nextToken && !loading && (
        <button className="more" onClick={() => load(nextToken, true)}>
          Load more
        </button>
      )}
    </aside>
  );
}
