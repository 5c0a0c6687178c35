"""System tags: run names and the git commit read straight from ``.git``."""

from __future__ import annotations

import getpass
import re
import subprocess
from pathlib import Path

import pytest

from cairn.tracking import context

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def test_generated_run_names_look_like_mlflows() -> None:
    names = {context.generate_run_name() for _ in range(50)}
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", n) for n in names)
    assert len(names) > 1


def test_commit_from_a_branch_ref(tmp_path: Path) -> None:
    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA + "\n")
    script = tmp_path / "repo" / "src" / "train.py"
    script.parent.mkdir()
    script.write_text("")
    assert context.git_commit(script) == SHA


def test_commit_from_packed_refs_and_detached_head(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    git.mkdir()
    (git / "HEAD").write_text("ref: refs/heads/dev\n")
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{OTHER} refs/heads/dev\n")
    assert context.git_commit(tmp_path) == OTHER
    (git / "HEAD").write_text(SHA + "\n")
    assert context.git_commit(tmp_path) == SHA


def test_commit_in_a_worktree(tmp_path: Path) -> None:
    main_git = tmp_path / "main" / ".git"
    wt_git = main_git / "worktrees" / "wt"
    wt_git.mkdir(parents=True)
    (main_git / "refs" / "heads").mkdir(parents=True)
    (main_git / "refs" / "heads" / "feature").write_text(SHA)
    (wt_git / "HEAD").write_text("ref: refs/heads/feature\n")
    (wt_git / "commondir").write_text("../..\n")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {wt_git}\n")
    assert context.git_commit(worktree) == SHA


def test_no_repository_or_garbage_gives_nothing(tmp_path: Path) -> None:
    assert context.git_commit(tmp_path) is None
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/unborn\n")
    assert context.git_commit(tmp_path) is None


def test_commit_matches_real_git(tmp_path: Path) -> None:
    try:
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t",
             "commit", "-q", "--allow-empty", "-m", "x"],
            check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    expected = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert context.git_commit(tmp_path) == expected


def test_system_tags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("")
    monkeypatch.setattr("sys.argv", [str(script)])
    tags = context.system_tags()
    assert tags["mlflow.source.name"] == str(script)
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"]
    assert "mlflow.source.git.commit" not in tags
    assert context.resolve_tags({"mlflow.user": "me"})["mlflow.user"] == "me"


def test_a_repository_made_later_and_new_commits_are_seen(tmp_path: Path) -> None:
    assert context.git_commit(tmp_path) is None
    heads = tmp_path / ".git" / "refs" / "heads"
    heads.mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (heads / "main").write_text(SHA + "\n")
    assert context.git_commit(tmp_path) == SHA
    (heads / "main").write_text(OTHER + "\n")  # a commit made while the process runs
    assert context.git_commit(tmp_path) == OTHER


def test_user_is_getpass_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert context.current_user() == getpass.getuser()  # the password database's name
    monkeypatch.setenv("USER", "someone")
    assert context.current_user() == "someone" == getpass.getuser()
    monkeypatch.setenv("LOGNAME", "first")
    assert context.current_user() == "first" == getpass.getuser()
