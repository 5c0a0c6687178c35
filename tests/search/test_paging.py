"""Offset page tokens in MLflow's form, and paging through a list with them."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.entities import PagedList
from cairn.exceptions import InvalidParameterValue
from cairn.search.paging import decode_page_token, encode_page_token, paginate


def test_token_is_mlflows_base64_json() -> None:
    token = encode_page_token(25)
    assert json.loads(base64.b64decode(token)) == {"offset": 25}
    # a token built the way MLflow builds it is understood
    assert decode_page_token(base64.b64encode(b'{"offset": 7}').decode()) == 7


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_the_first_page(token: str | None) -> None:
    assert decode_page_token(token) == 0


@given(st.integers(min_value=0, max_value=10**12))
def test_round_trip(offset: int) -> None:
    assert decode_page_token(encode_page_token(offset)) == offset


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "abc",  # bad padding
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(b'{"page": 3}').decode(),
        base64.b64encode(b'{"offset": -1}').decode(),
        base64.b64encode(b'{"offset": "3"}').decode(),
        base64.b64encode(b'{"offset": 1.5}').decode(),
        base64.b64encode(b'{"offset": true}').decode(),
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_garbage_tokens_are_invalid_parameter_values(token: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid page token"):
        decode_page_token(token)


@given(
    st.lists(st.integers(), max_size=40),
    st.integers(min_value=1, max_value=12),
)
def test_walking_the_pages_yields_every_item_once_in_order(items: list[int], size: int) -> None:
    seen: list[int] = []
    token: str | None = None
    pages = 0
    while True:
        page = paginate(items, size, token)
        assert isinstance(page, PagedList)
        assert len(page) <= size
        seen.extend(page)
        pages += 1
        token = page.token
        if token is None:
            break
        assert len(page) == size  # only the last page may be short
    assert seen == items
    assert pages == max(1, -(-len(items) // size))


def test_last_page_has_no_token_even_when_exactly_full() -> None:
    first = paginate(list(range(4)), 2, None)
    assert list(first) == [0, 1]
    second = paginate(list(range(4)), 2, first.token)
    assert list(second) == [2, 3]
    assert second.token is None


def test_token_past_the_end_gives_an_empty_last_page() -> None:
    page = paginate([1, 2, 3], 2, encode_page_token(10))
    assert list(page) == []
    assert page.token is None


@pytest.mark.parametrize("size", [0, -1])
def test_non_positive_page_size_is_rejected(size: int) -> None:
    with pytest.raises(InvalidParameterValue, match="max_results"):
        paginate([1, 2], size, None)
