// Tags of a run or an experiment: add, edit a value in place, delete. Every change goes
// to the server first (through ``save`` / ``remove``); the table then shows the owner as
// the server has it.
import { useState } from "react";
import { ErrorBox } from "../common";

interface Props {
  tags: [string, string][];
  save: (key: string, value: string) => Promise<unknown>;
  remove: (key: string) => Promise<unknown>;
  onChanged: () => void;
  /** The accessible name of the tags table. */
  label?: string;
}

export function TagEditor({ tags, save, remove, onChanged, label = "Tags" }: Props) {
  const [editing, setEditing] = useState<string | undefined>();
  const [draft, setDraft] = useState("");
  const [newKey, setNewKey] = useState("");
  const [newValue, setNewValue] = useState("");
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);

  const run = (work: () => Promise<unknown>, after: () => void) => {
    setBusy(true);
    setError(undefined);
    work()
      .then(
        () => {
          after();
          onChanged();
        },
        (err: Error) => setError(err),
      )
      .finally(() => setBusy(false));
  };

  return (
    <div className="tag-editor">
      {error && <ErrorBox error={error} />}
      {tags.length === 0 ? (
        <p className="muted">No tags.</p>
      ) : (
        <table className="kv" aria-label={label}>
          <tbody>
            {tags.map(([key, value]) => (
              <tr key={key} data-key={key}>
                <th scope="row">{key}</th>
                {editing === key ? (
                  <td>
                    <form
                      onSubmit={(e) => {
                        e.preventDefault();
                        run(() => save(key, draft), () => setEditing(undefined));
                      }}
                    >
                      <input aria-label={`Value of tag ${key}`} value={draft} autoFocus onChange={(e) => setDraft(e.target.value)} />
                      <button type="submit" className="small" disabled={busy}>
                        Save
                      </button>
                      <button type="button" className="small" onClick={() => setEditing(undefined)}>
                        Cancel
                      </button>
                    </form>
                  </td>
                ) : (
                  <td className="wrap">{value}</td>
                )}
                <td className="tag-actions">
                  <button
                    className="small"
                    aria-label={`Edit tag ${key}`}
                    onClick={() => {
                      setDraft(value);
                      setEditing(key);
                    }}
                  >
                    Edit
                  </button>{" "}
                  <button className="small" aria-label={`Delete tag ${key}`} disabled={busy} onClick={() => run(() => remove(key), () => undefined)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        className="run-actions"
        onSubmit={(e) => {
          e.preventDefault();
          const key = newKey.trim();
          if (!key) return;
          run(
            () => save(key, newValue),
            () => {
              setNewKey("");
              setNewValue("");
            },
          );
        }}
      >
        <input aria-label="New tag key" placeholder="key" value={newKey} onChange={(e) => setNewKey(e.target.value)} />
        <input aria-label="New tag value" placeholder="value" value={newValue} onChange={(e) => setNewValue(e.target.value)} />
        <button type="submit" disabled={busy || !newKey.trim()}>
          Add tag
        </button>
      </form>
    </div>
  );
}
