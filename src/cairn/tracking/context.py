"""The system tags a fluent run starts with: who ran what, from where, at which commit.

Everything here is cheap and never fails: a missing user name or an unreadable git
repository just leaves the tag out.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from cairn.entities.run_names import RUN_NAME_TAG
from cairn.entities.run_names import generate_run_name as generate_run_name  # for the client

MLFLOW_USER = "mlflow.user"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_RUN_NAME = RUN_NAME_TAG
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
MLFLOW_RUN_NOTE = "mlflow.note.content"
MLFLOW_DATASET_CONTEXT = "mlflow.data.context"

SOURCE_TYPE_LOCAL = "LOCAL"


_LOGIN_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")  # getpass.getuser's order


def current_user() -> str:
    """The login name of whoever runs this process, or ``unknown``: ``getpass.getuser``'s
    answer, with its password-database fallback looked up once a uid (it read
    /etc/passwd at every run)."""
    for name in _LOGIN_VARIABLES:
        user = os.environ.get(name)
        if user:
            return user
    return _account_name(os.getuid() if hasattr(os, "getuid") else -1)


@functools.lru_cache(maxsize=4)
def _account_name(uid: int) -> str:
    try:
        import pwd  # POSIX only

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):  # no passwd entry, e.g. in some containers
        return "unknown"


def source_name() -> str:
    """The script being run, as Python was told it (``sys.argv[0]``)."""
    main = sys.argv[0] if sys.argv else ""
    return main or "<console>"


def _git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # a worktree or submodule: ".git" names the real directory
            text = candidate.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                target = Path(text.partition(":")[2].strip())
                return target if target.is_absolute() else (directory / target).resolve()
    return None


# Repositories found, by the absolute path asked about: looking one up took a dozen
# system calls at every run. Only found ones are kept, so a repository made later in
# the process is still seen; HEAD is read afresh each time.
_git_dirs: dict[str, Path] = {}


def _find_git_dir(path: str) -> Path | None:
    found = _git_dirs.get(path)
    if found is None:
        start = Path(path).resolve()
        found = _git_dir(start if start.is_dir() else start.parent)
        if found is not None:
            _git_dirs[path] = found
    return found


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    # Worktrees keep shared refs in the directory named by "commondir".
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    for base in (git_dir, common):
        loose = base / ref
        if loose.is_file():
            return loose.read_text(encoding="utf-8").strip()
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref:
                return sha
    return None


def git_commit(path: str | os.PathLike[str]) -> str | None:
    """The commit checked out in the git repository containing ``path``, read from ``.git``."""
    try:
        git_dir = _find_git_dir(os.path.abspath(path))
        if git_dir is None:
            return None
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if head.startswith("ref:"):
            sha = _resolve_ref(git_dir, head.partition(":")[2].strip())
        else:
            sha = head  # detached HEAD holds the commit itself
    except (OSError, UnicodeError, ValueError):
        return None
    if sha and len(sha) in (40, 64) and all(c in "0123456789abcdef" for c in sha):
        return sha
    return None


def system_tags() -> dict[str, str]:
    """The tags MLflow's default run context resolves: user, source and git commit."""
    tags = {
        MLFLOW_USER: current_user(),
        MLFLOW_SOURCE_NAME: source_name(),
        MLFLOW_SOURCE_TYPE: SOURCE_TYPE_LOCAL,
    }
    main = sys.argv[0] if sys.argv else ""
    commit = git_commit(main if main and os.path.exists(main) else os.getcwd())
    if commit:
        tags[MLFLOW_GIT_COMMIT] = commit
    return tags


def resolve_tags(user_tags: dict[str, str] | None = None) -> dict[str, str]:
    """System tags overlaid with the user's own: what the user says wins."""
    return {**system_tags(), **(user_tags or {})}
