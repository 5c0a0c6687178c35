// A two-column table of keys and values, with a filter once it grows long.
import { useState } from "react";

interface Props {
  label: string;
  rows: [string, string][];
}

const FILTER_FROM = 12;

export function KeyValueTable({ label, rows }: Props) {
  const [filter, setFilter] = useState("");
  if (rows.length === 0) return <p className="muted">None.</p>;
  const needle = filter.toLowerCase();
  const shown = needle ? rows.filter(([k, v]) => k.toLowerCase().includes(needle) || v.toLowerCase().includes(needle)) : rows;
  return (
    <>
      {rows.length >= FILTER_FROM && (
        <input type="search" className="kv-filter" placeholder={`Filter ${label.toLowerCase()}`} aria-label={`Filter ${label.toLowerCase()}`} value={filter} onChange={(e) => setFilter(e.target.value)} />
      )}
      <table className="kv" aria-label={label}>
        <tbody>
          {shown.map(([key, value]) => (
            <tr key={key} data-key={key}>
              <th scope="row">{key}</th>
              <td className="wrap">{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
