"""Offset-based page tokens, in MLflow's form: ``base64(json.dumps({"offset": N}))``.

Using the same token form means a token issued by an MLflow server and one issued by
Cairn are interchangeable for clients that (wrongly, but commonly) inspect them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TypeVar

from cairn.entities import PagedList
from cairn.exceptions import InvalidParameterValue

T = TypeVar("T")


def encode_page_token(offset: int) -> str:
    """Return the token that resumes a listing at ``offset``."""
    return base64.b64encode(json.dumps({"offset": offset}).encode("utf-8")).decode("utf-8")


def decode_page_token(token: str | None) -> int:
    """Return the offset a token stands for; no token means the first page.

    Raises:
        InvalidParameterValue: the token is not one this module produced.
    """
    if not token:
        return 0
    try:
        decoded = json.loads(base64.b64decode(token.encode("utf-8"), validate=True))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidParameterValue(
            f"Invalid page token, could not base64-decode: {token!r}"
        ) from exc
    if not isinstance(decoded, dict) or "offset" not in decoded:
        raise InvalidParameterValue(f"Invalid page token, it has no 'offset' field: {token!r}")
    offset = decoded["offset"]
    # bool is an int subclass; {"offset": true} is not a token we issue
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidParameterValue(
            f"Invalid page token, offset must be a non-negative integer: {token!r}"
        )
    return offset


def paginate(items: Sequence[T], max_results: int, page_token: str | None) -> PagedList[T]:
    """Cut one page of ``max_results`` items out of an already filtered and sorted list.

    The returned token is None on the last page, so clients stop looping.
    """
    if max_results < 1:
        # a zero-sized page would hand back a token to the same offset forever
        raise InvalidParameterValue(f"max_results must be a positive integer, got {max_results}")
    offset = decode_page_token(page_token)
    end = offset + max_results
    page = items[offset:end]
    token = encode_page_token(end) if end < len(items) else None
    return PagedList(page, token)
