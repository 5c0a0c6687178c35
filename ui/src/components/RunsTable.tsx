// A virtualised table: only the rows in view (plus a margin) are in the DOM, so 10,000
// runs scroll as smoothly as 10. Rows have a fixed height, which makes the visible
// range a matter of arithmetic.
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { buildHash } from "../router";
import { runDisplayName } from "../format";
import { ATTRIBUTE_COLUMNS, NAME_COLUMN, type Column } from "./columns";
import type { RunRow } from "./runsData";

export const ROW_HEIGHT = 30;
const HEADER_HEIGHT = 34;
const OVERSCAN = 12;
// Ask for the next page this many rows before the user reaches the end.
const PREFETCH_ROWS = 200;
const SELECT_WIDTH = 36;
const EXPERIMENT_WIDTH = 140;

interface Props {
  rows: RunRow[];
  pickedColumns: Column[];
  experimentNames?: Record<string, string>;
  sort: string;
  descending: boolean;
  onSort: (column: Column) => void;
  selected: ReadonlySet<string>;
  onSelect: (ids: Set<string>) => void;
  onToggleExpanded: (id: string) => void;
  onNearEnd: () => void;
  /** Shown when there are no rows; empty while loading. */
  emptyText: string;
}


export function RunsTable(props: Props) {
  const { rows, pickedColumns, experimentNames, sort, descending, onSort, selected, onSelect, onToggleExpanded, onNearEnd, emptyText } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(600);

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    setViewHeight(element.clientHeight);
    const observer = new ResizeObserver(() => setViewHeight(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const experimentColumn: Column[] = experimentNames
    ? [{ id: "experiment", label: "Experiment", width: EXPERIMENT_WIDTH, value: (r) => experimentNames[r.info.experiment_id] ?? r.info.experiment_id }]
    : [];
  const dataColumns = [...experimentColumn, ...ATTRIBUTE_COLUMNS, ...pickedColumns];
  const totalWidth = SELECT_WIDTH + NAME_COLUMN.width + dataColumns.reduce((sum, c) => sum + c.width, 0);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewHeight) / ROW_HEIGHT) + OVERSCAN);

  useEffect(() => {
    if (rows.length > 0 && last >= rows.length - PREFETCH_ROWS) onNearEnd();
  }, [last, rows.length, onNearEnd]);

  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.id));
  const toggleAll = () => onSelect(allSelected ? new Set() : new Set(rows.map((r) => r.id)));
  const toggleOne = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    onSelect(next);
  };

  const header = (column: Column) => {
    const active = sort === column.id;
    const arrow = active ? (descending ? " ↓" : " ↑") : "";
    return (
      <div
        key={column.id}
        role="columnheader"
        className="cell header-cell"
        style={{ width: column.width }}
        data-col={column.id}
        aria-sort={active ? (descending ? "descending" : "ascending") : "none"}
        title={column.sortKey ? `Sort by ${column.label}` : column.label}
      >
        {column.sortKey ? (
          <button className="sort" onClick={() => onSort(column)}>
            {column.label}
            {arrow}
          </button>
        ) : (
          column.label
        )}
      </div>
    );
  };

  return (
    <div
      className="runs-scroll"
      ref={scroller}
      role="table"
      aria-label="Runs"
      aria-rowcount={rows.length}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      <div className="runs-inner" style={{ width: totalWidth, height: HEADER_HEIGHT + rows.length * ROW_HEIGHT }}>
        <div className="runs-head" role="row" style={{ width: totalWidth, height: HEADER_HEIGHT }}>
          <div className="cell select-cell" role="columnheader" style={{ width: SELECT_WIDTH }}>
            <input type="checkbox" aria-label="Select all runs" checked={allSelected} onChange={toggleAll} />
          </div>
          {header(NAME_COLUMN)}
          {dataColumns.map(header)}
        </div>
        {rows.slice(first, last).map((row, offset) => {
          const index = first + offset;
          return (
            <div
              key={row.id}
              role="row"
              aria-rowindex={index + 1}
              className={`run-row${selected.has(row.id) ? " selected" : ""}`}
              data-run-id={row.id}
              style={{ top: HEADER_HEIGHT + index * ROW_HEIGHT, height: ROW_HEIGHT, width: totalWidth }}
            >
              <div className="cell select-cell" role="cell" style={{ width: SELECT_WIDTH }}>
                <input
                  type="checkbox"
                  aria-label={`Select run ${runDisplayName(row.run)}`}
                  checked={selected.has(row.id)}
                  onChange={() => toggleOne(row.id)}
                />
              </div>
              <div className="cell name-cell" role="cell" data-col="run_name" style={{ width: NAME_COLUMN.width, paddingLeft: 6 + row.depth * 18 }}>
                {row.childCount > 0 ? (
                  <button
                    className="expander"
                    aria-expanded={row.expanded}
                    aria-label={`${row.expanded ? "Collapse" : "Expand"} ${row.childCount} child runs`}
                    onClick={() => onToggleExpanded(row.id)}
                  >
                    {row.expanded ? "▾" : "▸"}
                  </button>
                ) : (
                  <span className="expander-space" />
                )}
                <a href={buildHash(["runs", row.id])} title={runDisplayName(row.run)}>
                  {runDisplayName(row.run)}
                </a>
                {row.childCount > 0 && <span className="child-count">{row.childCount}</span>}
              </div>
              {dataColumns.map((column) => (
                <div key={column.id} className="cell" role="cell" data-col={column.id} style={{ width: column.width }}>
                  {column.value(row.run)}
                </div>
              ))}
            </div>
          );
        })}
        {rows.length === 0 && emptyText && (
          <div className="empty-table" style={{ top: HEADER_HEIGHT }}>
            {emptyText}
          </div>
        )}
      </div>
    </div>
  );
}
