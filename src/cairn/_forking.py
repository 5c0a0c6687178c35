"""What a forked child must not take over from its parent.

A child of ``os.fork`` (a fork-mode ``multiprocessing`` pool, a data loader's workers)
starts with copies of the parent's locks, some held by threads it does not have, and of
its connections, whose sockets and SQLite file state it would share with the parent.
Objects owning such things register here to renew them in the child.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

_renewals: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = weakref.WeakKeyDictionary()
# What children inherited: kept, never used nor closed there (closing a SQLite connection
# another process opened is as unsafe as using it).
_inherited: list[object] = []


def renew_in_child(owner: _T, renew: Callable[[_T], None]) -> None:
    """Call ``renew(owner)`` in every child forked while ``owner`` lives."""
    _renewals[owner] = renew


def keep_inherited(resource: object) -> None:
    """Keep what the parent opened, and the child replaced, alive and untouched."""
    _inherited.append(resource)


def _after_fork_in_child() -> None:
    for owner, renew in list(_renewals.items()):
        renew(owner)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
