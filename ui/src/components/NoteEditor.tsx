// The run's note (the mlflow.note.content tag): Markdown to read, plain text to edit.
import { useState } from "react";
import Markdown from "react-markdown";
import { setTag } from "../api/client";
import { ErrorBox } from "../common";
import { NOTE_TAG } from "../format";

interface Props {
  runId: string;
  note: string;
  onSaved: () => void;
}

export function NoteEditor({ runId, note, onSaved }: Props) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(note);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<Error | undefined>();

  const save = async () => {
    setSaving(true);
    setError(undefined);
    try {
      await setTag(runId, NOTE_TAG, draft);
      setEditing(false);
      onSaved();
    } catch (err) {
      setError(err as Error);
    } finally {
      setSaving(false);
    }
  };

  return (
    <section className="note" aria-labelledby="note-heading">
      <h2 id="note-heading">
        Note{" "}
        {!editing && (
          <button
            className="small"
            onClick={() => {
              setDraft(note);
              setEditing(true);
            }}
          >
            Edit note
          </button>
        )}
      </h2>
      {error && <ErrorBox error={error} />}
      {editing ? (
        <div className="note-editor">
          <textarea aria-label="Note text" rows={8} value={draft} onChange={(e) => setDraft(e.target.value)} />
          <div>
            <button className="primary" onClick={save} disabled={saving}>
              {saving ? "Saving…" : "Save note"}
            </button>
            <button onClick={() => setEditing(false)} disabled={saving}>
              Cancel
            </button>
          </div>
        </div>
      ) : note ? (
        // react-markdown renders no raw HTML, so a note cannot inject markup
        <div className="note-body markdown">
          <Markdown>{note}</Markdown>
        </div>
      ) : (
        <p className="muted">No note yet.</p>
      )}
    </section>
  );
}
