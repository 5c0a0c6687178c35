// A panel of checkboxes choosing which params, metrics and tags the runs table shows.
import { useState } from "react";
import type { PickedEntity } from "./columns";

interface Props {
  keys: Record<PickedEntity, string[]>;
  picked: string[];
  onChange: (picked: string[]) => void;
  onClose: () => void;
}

const GROUPS: [PickedEntity, string][] = [
  ["metrics", "Metrics"],
  ["params", "Parameters"],
  ["tags", "Tags"],
];

export function ColumnPicker({ keys, picked, onChange, onClose }: Props) {
  const [filter, setFilter] = useState("");
  const toggle = (id: string) => onChange(picked.includes(id) ? picked.filter((p) => p !== id) : [...picked, id]);
  const needle = filter.toLowerCase();
  return (
    <div className="column-picker" role="dialog" aria-label="Choose columns">
      <div className="picker-head">
        <input
          type="search"
          placeholder="Filter keys"
          aria-label="Filter column keys"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          autoFocus
        />
        <button onClick={() => onChange([])}>None</button>
        <button onClick={onClose}>Done</button>
      </div>
      <div className="picker-groups">
        {GROUPS.map(([entity, title]) => {
          const shown = keys[entity].filter((k) => k.toLowerCase().includes(needle));
          return (
            <fieldset key={entity}>
              <legend>{title}</legend>
              {shown.length === 0 && <span className="muted">none</span>}
              {shown.map((key) => {
                const id = `${entity}.${key}`;
                return (
                  <label key={id} className="picker-item">
                    <input type="checkbox" checked={picked.includes(id)} onChange={() => toggle(id)} aria-label={`${title}: ${key}`} />
                    {key}
                  </label>
                );
              })}
            </fieldset>
          );
        })}
      </div>
    </div>
  );
}
