"""Run names: the ``mlflow.runName`` tag and the readable names given to unnamed runs.

Every store and the client name runs the same way, so this lives below them all.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from cairn.entities.run import RunTag
from cairn.exceptions import InvalidParameterValue

RUN_NAME_TAG = "mlflow.runName"

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "curious", "dapper",
    "eager", "fancy", "gentle", "glad", "golden", "grand", "happy", "honest", "humble",
    "jolly", "keen", "kind", "lively", "lucky", "mellow", "merry", "nimble", "noble",
    "patient", "polite", "proud", "quick", "quiet", "rare", "rustic", "serene", "sharp",
    "shy", "silent", "sleek", "smooth", "snug", "steady", "sunny", "swift", "tidy",
    "upbeat", "vivid", "warm", "wise", "zesty",
)  # fmt: skip
_NOUNS = (
    "badger", "bear", "bison", "cairn", "cat", "colt", "crane", "deer", "dove", "eagle",
    "elk", "falcon", "ferret", "finch", "fox", "gecko", "goat", "hare", "hawk", "heron",
    "ibis", "jay", "koala", "lark", "lemur", "lion", "lynx", "mole", "moose", "newt",
    "otter", "owl", "panda", "pika", "puffin", "quail", "raven", "robin", "seal", "shrew",
    "sloth", "snail", "stoat", "swan", "toad", "trout", "vole", "wolf", "wren", "yak",
)  # fmt: skip


def generate_run_name() -> str:
    """A readable random run name like MLflow's: ``adjective-noun-NNN``."""
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(0, 999)}"


def name_new_run(run_name: str | None, tags: Sequence[RunTag]) -> tuple[str, list[RunTag]]:
    """The name of a run being created and its tags, ending with exactly one name tag.

    The name is ``run_name``, else the last ``mlflow.runName`` tag, else a generated one;
    giving both with different values is refused as MLflow refuses it.
    """
    tag_name = next((tag.value for tag in reversed(tags) if tag.key == RUN_NAME_TAG), None)
    if run_name and tag_name and run_name != tag_name:
        raise InvalidParameterValue(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
            f"different values (run_name='{run_name}', mlflow.runName='{tag_name}')."
        )
    name = run_name or tag_name or generate_run_name()
    return name, [tag for tag in tags if tag.key != RUN_NAME_TAG] + [RunTag(RUN_NAME_TAG, name)]
