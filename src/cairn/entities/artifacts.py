"""Listings of stored files and pages of search results."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One entry of an artifact listing; ``file_size`` is None for directories."""

    path: str
    is_dir: bool
    file_size: int | None


class PagedList(list[T]):
    """A page of results; ``token`` fetches the next page, None on the last one."""

    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token
