"""Options shared by several ``cairn`` commands, and the parsing of their values."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cairn.entities import ViewType

F = TypeVar("F", bound=Callable[..., Any])

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"^(?:{_NUMBER}d)?(?:{_NUMBER}h)?(?:{_NUMBER}m)?(?:{_NUMBER}s)?$")
_MS_PER_UNIT = (86_400_000, 3_600_000, 60_000, 1_000)  # d, h, m, s


def parse_duration_ms(text: str) -> int:
    """Milliseconds in a ``#d#h#m#s`` duration such as ``30d``, ``1d2h3m4s`` or ``1.5h``.

    Raises:
        ValueError: the text is empty or not in that form.
    """
    match = _DURATION.match(text.strip())
    if match is None or not any(match.groups()):
        raise ValueError(
            f"could not read a duration from {text!r}; use the #d#h#m#s form, "
            "e.g. '30d', '2h', '1d2h3m4s' or '1.5h'"
        )
    values = match.groups()
    return round(sum(float(v) * ms for v, ms in zip(values, _MS_PER_UNIT, strict=True) if v))


def duration_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Click callback turning a ``#d#h#m#s`` option value into milliseconds."""
    if value is None:
        return None
    try:
        return parse_duration_ms(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _view_callback(ctx: click.Context, param: click.Parameter, value: str) -> ViewType:
    try:
        return ViewType.from_string(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a view type; use 'active_only', 'deleted_only' or 'all'",
            ctx,
            param,
        ) from None


def view_option(what: str) -> Callable[[F], F]:
    """The ``-v/--view`` option of the listing commands, passed on as ``view_type``."""
    return click.option(
        "-v",
        "--view",
        "view_type",
        default="active_only",
        show_default=True,
        callback=_view_callback,
        help=f"Which {what} to show: 'active_only', 'deleted_only' or 'all'.",
    )


def comma_list(value: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; None or blank -> ``[]``."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]
