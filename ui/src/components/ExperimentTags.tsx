// The tags of one experiment, shown above its runs: a collapsible panel holding the tag
// editor, which writes through the experiment-tag endpoints and then reloads the experiment.
import { deleteExperimentTag, setExperimentTag } from "../api/client";
import type { Experiment } from "../api/types";
import { TagEditor } from "./TagEditor";

interface Props {
  experiment: Experiment;
  onChanged: () => void;
}

export function ExperimentTags({ experiment, onChanged }: Props) {
  const id = experiment.experiment_id;
  const tags = (experiment.tags ?? [])
    .map((t): [string, string] => [t.key, t.value ?? ""])
    .sort(([a], [b]) => a.localeCompare(b));
  return (
    <details className="experiment-tags" data-experiment-id={id}>
      <summary>Experiment tags ({tags.length})</summary>
      <TagEditor
        label="Experiment tags"
        tags={tags}
        save={(key, value) => setExperimentTag(id, key, value)}
        remove={(key) => deleteExperimentTag(id, key)}
        onChanged={onChanged}
      />
    </details>
  );
}
