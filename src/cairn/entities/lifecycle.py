"""Lifecycle stages, view types and run statuses, with MLflow's numbers and names."""

from __future__ import annotations

from enum import IntEnum


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"

    @staticmethod
    def is_valid(stage: str) -> bool:
        return stage in (LifecycleStage.ACTIVE, LifecycleStage.DELETED)

    @staticmethod
    def view_type_to_stages(view_type: int | None = None) -> list[str]:
        """The stages a search with this view type returns."""
        view = ViewType.ACTIVE_ONLY if view_type is None else ViewType(view_type)
        stages = []
        if view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            stages.append(LifecycleStage.ACTIVE)
        if view in (ViewType.DELETED_ONLY, ViewType.ALL):
            stages.append(LifecycleStage.DELETED)
        return stages


class ViewType(IntEnum):
    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @staticmethod
    def from_string(name: str) -> ViewType:
        try:
            return ViewType[name.strip().upper()]
        except KeyError:
            raise ValueError(f"Unknown view type {name!r}") from None

    @staticmethod
    def to_string(view_type: int) -> str:
        return ViewType(view_type).name

    @staticmethod
    def coerce(value: int | str | None) -> ViewType:
        """Accept the enum, its number, or its name (as the REST API and CLI send it)."""
        if value is None:
            return ViewType.ACTIVE_ONLY
        if isinstance(value, str) and not value.isdigit():
            return ViewType.from_string(value)
        return ViewType(int(value))


class RunStatus(IntEnum):
    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5

    @staticmethod
    def from_string(name: str) -> RunStatus:
        try:
            return RunStatus[name.strip().upper()]
        except KeyError:
            raise ValueError(f"Unknown run status {name!r}") from None

    @staticmethod
    def to_string(status: int) -> str:
        return RunStatus(status).name

    @staticmethod
    def is_terminated(status: int | str) -> bool:
        value = RunStatus.from_string(status) if isinstance(status, str) else RunStatus(status)
        return value in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)

    @staticmethod
    def all_status() -> list[int]:
        return [int(s) for s in RunStatus]
