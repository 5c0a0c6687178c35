"""MLflow's search grammar: filter strings and ``order_by`` clauses, from text to AST.

A filter is comparisons ``<identifier> <comparator> <value>`` joined by ``AND``, as in
MLflow, plus two Cairn extensions that leave every MLflow filter valid and meaning the
same: ``OR`` with parentheses (``AND`` binds tighter), and params compared with an
unquoted number (``params.lr > 0.01``), which compare numerically.

Identifiers are ``[<entity>.]<key>``; a bare key is an attribute. Either part may be
wrapped in backticks or double quotes, so keys can hold spaces and dots
(``metrics.`f1 score` ``, ``params."a.b"``); an unquoted key may also hold dots
(``params.model.lr`` is the param ``model.lr``). Quoted text is taken verbatim, as MLflow
does: ``'it''s'`` is the four characters ``it''s``.

Every malformed filter raises :class:`~cairn.exceptions.InvalidParameterValue` whose
message quotes the offending part.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cairn.exceptions import InvalidParameterValue
from cairn.search.ast import (
    DATASET_KEYS,
    EXPERIMENT_NUMERIC_ATTRIBUTES,
    EXPERIMENT_STRING_ATTRIBUTES,
    NUMERIC_OPERATORS,
    RUN_NUMERIC_ATTRIBUTES,
    RUN_STRING_ATTRIBUTES,
    And,
    Comparison,
    Entity,
    Node,
    Operator,
    Or,
    OrderKey,
    Value,
)

__all__ = [
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_run_filter",
    "parse_run_order_by",
]

# ---------------------------------------------------------------------------------------
# What each search accepts
# ---------------------------------------------------------------------------------------

_EQUALITY_AND_LIKE: frozenset[str] = frozenset({"=", "!=", "LIKE", "ILIKE"})
_LIST_OPERATORS: frozenset[str] = frozenset({"IN", "NOT IN"})


@dataclass(frozen=True, slots=True)
class _Grammar:
    """The vocabulary of one search: which entities, attributes and aliases exist."""

    entities: Mapping[str, Entity]
    aliases: Mapping[str, str]
    string_attributes: frozenset[str]
    numeric_attributes: frozenset[str]
    list_attributes: frozenset[str]  # string attributes that also accept IN / NOT IN
    order_attributes: frozenset[str]


_ATTRIBUTE_PREFIXES: dict[str, Entity] = {
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
}

_RUNS = _Grammar(
    entities={
        "metric": "metric",
        "metrics": "metric",
        "param": "param",
        "params": "param",
        "parameter": "param",
        "parameters": "param",
        "tag": "tag",
        "tags": "tag",
        **_ATTRIBUTE_PREFIXES,
        "run": "attribute",
        "dataset": "dataset",
        "datasets": "dataset",
    },
    aliases={
        "created": "start_time",
        "Created": "start_time",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
        "run_uuid": "run_id",
    },
    # MLflow filters on these; experiment_id and lifecycle_stage are orderable only.
    string_attributes=frozenset({"run_id", "run_name", "user_id", "status", "artifact_uri"}),
    numeric_attributes=frozenset(RUN_NUMERIC_ATTRIBUTES),
    list_attributes=frozenset({"run_id"}),
    order_attributes=frozenset(RUN_STRING_ATTRIBUTES + RUN_NUMERIC_ATTRIBUTES),
)

_EXPERIMENTS = _Grammar(
    entities={**_ATTRIBUTE_PREFIXES, "tag": "tag", "tags": "tag"},
    aliases={},
    string_attributes=frozenset(EXPERIMENT_STRING_ATTRIBUTES),
    numeric_attributes=frozenset(EXPERIMENT_NUMERIC_ATTRIBUTES),
    list_attributes=frozenset({"experiment_id"}),
    order_attributes=frozenset(EXPERIMENT_STRING_ATTRIBUTES + EXPERIMENT_NUMERIC_ATTRIBUTES),
)

# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------

TokenKind = Literal["ident", "quoted", "number", "op", "lparen", "rparen", "comma", "end"]

_QUOTES = "'\"`"
_OPERATOR_CHARS = "=!<>~"
_COMPARATORS: frozenset[str] = frozenset({"=", "!=", "<", "<=", ">", ">="})
_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    start: int
    end: int
    text: str  # the source text of the token
    content: str = ""  # quoted: the text between the quotes
    quote: str = ""  # quoted: the quote character
    prefix: str | None = None  # ident: the entity part, None for a bare key
    key: str = ""  # ident: the key (unquoted if it was a single quoted segment)

    @property
    def word(self) -> str:
        """The upper-cased text of a bare one-word identifier, to spot keywords."""
        if self.kind == "ident" and self.prefix is None and self.text == self.key:
            return self.text.upper()
        return ""


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _read_quoted(text: str, start: int) -> int:
    """Return the index just past the quoted segment opening at ``start``.

    A doubled quote or a backslash escape does not close the segment (SQL's and
    sqlparse's lexing, which MLflow's users rely on); the content is kept verbatim.
    """
    quote = text[start]
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise InvalidParameterValue(f"Unterminated quoted string {text[start:]!r} in {text!r}")


def _read_identifier(text: str, start: int) -> _Token:
    """Read ``segment(.segment)*`` where a segment is a bare word or a quoted string."""
    segments: list[tuple[int, int]] = []
    i = start
    while True:
        seg_start = i
        if text[i] in _QUOTES:
            i = _read_quoted(text, i)
        else:
            while i < len(text) and _is_word_char(text[i]):
                i += 1
        segments.append((seg_start, i))
        if i < len(text) and text[i] == ".":
            i += 1
            if i < len(text) and (_is_word_char(text[i]) or text[i] in _QUOTES):
                continue
            segments.append((i, i))  # a trailing dot: an empty key, as MLflow allows
        break
    raw = text[start:i]
    if len(segments) == 1 and text[start] in _QUOTES:
        return _Token("quoted", start, i, raw, content=raw[1:-1], quote=raw[0])
    if len(segments) == 1:
        return _Token("ident", start, i, raw, key=raw)
    first_start, first_end = segments[0]
    key_start = segments[1][0]
    key = text[key_start:i]
    if len(segments) == 2 and key and key[0] in _QUOTES:
        key = key[1:-1]
    return _Token("ident", start, i, raw, prefix=_unquote(text[first_start:first_end]), key=key)


def _unquote(segment: str) -> str:
    if len(segment) >= 2 and segment[0] in _QUOTES:
        return segment[1:-1]
    return segment


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    punctuation: dict[str, TokenKind] = {"(": "lparen", ")": "rparen", ",": "comma"}
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in punctuation:
            tokens.append(_Token(punctuation[char], i, i + 1, char))
            i += 1
        elif char in _OPERATOR_CHARS:
            j = i
            while j < n and text[j] in _OPERATOR_CHARS:
                j += 1
            tokens.append(_Token("op", i, j, text[i:j]))
            i = j
        elif (match := _NUMBER.match(text, i)) is not None:
            j = match.end()
            if j < n and (_is_word_char(text[j]) or text[j] in _QUOTES or text[j] == "."):
                while j < n and (_is_word_char(text[j]) or text[j] in ".-+"):
                    j += 1
                raise InvalidParameterValue(f"Invalid number {text[i:j]!r} in {text!r}")
            tokens.append(_Token("number", i, j, text[i:j]))
            i = j
        elif _is_word_char(char) or char in _QUOTES:
            token = _read_identifier(text, i)
            tokens.append(token)
            i = token.end
        else:
            raise InvalidParameterValue(
                f"Invalid character {char!r} at position {i} in filter {text!r}"
            )
    tokens.append(_Token("end", n, n, ""))
    return tokens


# ---------------------------------------------------------------------------------------
# Identifiers
# ---------------------------------------------------------------------------------------


def _resolve_identifier(
    token: _Token, grammar: _Grammar, context: str, *, ordering: bool = False
) -> tuple[Entity, str]:
    """Turn an identifier token into a canonical (entity, key), or raise."""
    if token.kind == "quoted":
        if token.quote == "'":
            raise InvalidParameterValue(
                f"Expected an identifier but found the string {token.text} in {context!r}; "
                "quote keys with backticks or double quotes"
            )
        prefix, key = None, token.content
    elif token.kind == "ident" and not _is_keyword(token):
        prefix, key = token.prefix, token.key
    else:
        found = token.text or "the end of the filter"
        raise InvalidParameterValue(f"Expected an identifier but found {found!r} in {context!r}")

    if prefix is None:
        entity: Entity = "attribute"
    elif prefix in grammar.entities:
        entity = grammar.entities[prefix]
    else:
        valid = sorted(set(grammar.entities.values()))
        raise InvalidParameterValue(
            f"Invalid entity type {prefix!r} in {context!r}. Valid values are {valid}"
        )

    if entity == "attribute":
        key = grammar.aliases.get(key, key)
        valid_keys = (
            grammar.order_attributes
            if ordering
            else grammar.string_attributes | grammar.numeric_attributes
        )
        if key not in valid_keys:
            raise InvalidParameterValue(
                f"Invalid attribute key {key!r} in {context!r}. Valid keys are {sorted(valid_keys)}"
            )
    elif entity == "dataset":
        if ordering:
            raise InvalidParameterValue(f"Cannot order by dataset fields: {context!r}")
        if key not in DATASET_KEYS:
            raise InvalidParameterValue(
                f"Invalid dataset key {key!r} in {context!r}. Valid keys are {list(DATASET_KEYS)}"
            )
    return entity, key


_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS"})


def _is_keyword(token: _Token) -> bool:
    return token.word in _KEYWORDS


# ---------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------


class _FilterParser:
    """Recursive descent over the tokens: or := and (OR and)*; and := primary (AND primary)*."""

    def __init__(self, text: str, grammar: _Grammar) -> None:
        self.text = text
        self.grammar = grammar
        self.tokens = _tokenize(text)
        self.pos = 0

    # -- token helpers ------------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def _advance(self) -> _Token:
        token = self._peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def _skip_ands(self) -> bool:
        # MLflow tolerates stray ANDs ("AND a = 1", "a = 1 AND AND b = 2", "a = 1 AND").
        skipped = False
        while self._peek().word == "AND":
            self._advance()
            skipped = True
        return skipped

    def _clause_text(self, start: int) -> str:
        """The source text of the comparison starting at token ``start``."""
        depth = 0
        i = start
        while i < len(self.tokens) - 1:
            token = self.tokens[i]
            if token.word in ("AND", "OR") and i > start:
                break
            if token.kind == "lparen":
                depth += 1
            elif token.kind == "rparen":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        end = self.tokens[max(i - 1, start)].end
        return self.text[self.tokens[start].start : end]

    # -- grammar --------------------------------------------------------------------------

    def parse(self) -> Node:
        self._skip_ands()
        node = self._or()
        token = self._peek()
        if token.kind == "rparen":
            raise InvalidParameterValue(f"Unbalanced parentheses in {self.text!r}")
        if token.kind != "end":
            raise InvalidParameterValue(
                f"Invalid clause {self.text[token.start :]!r} in filter {self.text!r}: "
                "expected AND or OR between comparisons"
            )
        return node

    def _or(self) -> Node:
        clauses = [self._and()]
        while self._peek().word == "OR":
            self._advance()
            clauses.append(self._and())
        if len(clauses) == 1:
            return clauses[0]
        return Or(tuple(_flatten(clauses, Or)))

    def _and(self) -> Node:
        clauses = [self._primary()]
        while True:
            if self._skip_ands():
                if self._peek().kind in ("end", "rparen"):
                    break
            elif not self._starts_comparison(self._peek()):
                break
            # MLflow reads comparisons written side by side without AND as a conjunction
            clauses.append(self._primary())
        if len(clauses) == 1:
            return clauses[0]
        return And(tuple(_flatten(clauses, And)))

    @staticmethod
    def _starts_comparison(token: _Token) -> bool:
        return (token.kind == "ident" and not _is_keyword(token)) or (
            token.kind == "quoted" and token.quote != "'"
        )

    def _primary(self) -> Node:
        token = self._peek()
        if token.kind == "lparen":
            self._advance()
            if self._peek().kind == "rparen":
                raise InvalidParameterValue(f"Empty parentheses in {self.text!r}")
            self._skip_ands()
            node = self._or()
            if self._peek().kind != "rparen":
                if self._peek().kind == "end":
                    raise InvalidParameterValue(f"Unbalanced parentheses in {self.text!r}")
                rest = self.text[self._peek().start :]
                raise InvalidParameterValue(
                    f"Invalid clause {rest!r} in filter {self.text!r}: expected ')', AND or OR"
                )
            self._advance()
            return node
        if token.kind == "rparen":
            raise InvalidParameterValue(f"Unbalanced parentheses in {self.text!r}")
        if token.kind == "end":
            raise InvalidParameterValue(f"Filter {self.text!r} ends where a comparison should be")
        return self._comparison()

    def _comparison(self) -> Comparison:
        start = self.pos
        context = self._clause_text(start)
        entity, key = _resolve_identifier(self._advance(), self.grammar, context)
        op = self._operator(context)
        value_token = self._peek()
        numeric = self._is_numeric(entity, key, value_token)
        self._check_operator(entity, key, op, numeric, context)
        value = self._value(entity, key, op, numeric, context)
        return Comparison(entity, key, op, value)

    def _operator(self, context: str) -> Operator:
        token = self._advance()
        if token.kind == "op":
            if token.text not in _COMPARATORS:
                raise InvalidParameterValue(f"Invalid comparator {token.text!r} in {context!r}")
            return _as_operator(token.text)
        word = token.word
        if word in ("LIKE", "ILIKE", "IN"):
            return _as_operator(word)
        if word == "NOT" and self._peek().word == "IN":
            self._advance()
            return "NOT IN"
        if word in ("NOT", "IS"):
            following = self._peek().text if self._peek().kind == "ident" else ""
            raise InvalidParameterValue(
                f"Invalid comparator {f'{token.text} {following}'.strip()!r} in {context!r}"
            )
        found = token.text or "the end of the filter"
        raise InvalidParameterValue(f"Expected a comparator but found {found!r} in {context!r}")

    def _is_numeric(self, entity: Entity, key: str, value_token: _Token) -> bool:
        if entity == "metric":
            return True
        if entity == "attribute":
            return key in self.grammar.numeric_attributes
        # Cairn extension: an unquoted number makes a param comparison numeric.
        return entity == "param" and value_token.kind == "number"

    def _check_operator(
        self, entity: Entity, key: str, op: Operator, numeric: bool, context: str
    ) -> None:
        if numeric:
            allowed: frozenset[str] = NUMERIC_OPERATORS
        elif entity == "dataset" or (entity == "attribute" and key in self.grammar.list_attributes):
            allowed = _EQUALITY_AND_LIKE | _LIST_OPERATORS
        else:
            allowed = _EQUALITY_AND_LIKE
        if op in allowed:
            return
        if op in _LIST_OPERATORS and not numeric:
            raise InvalidParameterValue(
                f"Only {sorted(self.grammar.list_attributes)} attributes and dataset fields "
                f"support {op} with a list of quoted strings, in {context!r}"
            )
        if entity == "param" and op in ("LIKE", "ILIKE"):
            raise InvalidParameterValue(
                f"Expected a quoted string value for {op} in {context!r} (e.g. 'my-value')"
            )
        kind = "numeric" if numeric else "string"
        raise InvalidParameterValue(
            f"Invalid comparator {op!r} for {kind} {entity} {key!r} in {context!r}. "
            f"Valid comparators are {sorted(allowed)}"
        )

    def _value(self, entity: Entity, key: str, op: Operator, numeric: bool, context: str) -> Value:
        token = self._advance()
        if op in _LIST_OPERATORS:
            return self._string_list(token, context)
        if numeric:
            if token.kind != "number":
                raise InvalidParameterValue(
                    f"Expected a numeric value for {entity} {key!r} but found "
                    f"{token.text or 'nothing'} in {context!r}"
                )
            if entity == "attribute" and _is_integer_literal(token.text):
                return int(token.text)
            return float(token.text)
        if token.kind == "quoted" and token.quote in "'\"":
            return token.content
        raise InvalidParameterValue(
            f"Expected a quoted string value for {entity} {key!r} (e.g. 'my-value') but found "
            f"{token.text or 'nothing'} in {context!r}"
        )

    def _string_list(self, token: _Token, context: str) -> tuple[str, ...]:
        if token.kind != "lparen":
            raise InvalidParameterValue(
                f"Expected a parenthesised list of quoted strings, e.g. ('a', 'b'), in {context!r}"
            )
        items: list[str] = []
        while True:
            token = self._advance()
            if token.kind == "rparen" and items:
                break
            if token.kind == "rparen":
                raise InvalidParameterValue(
                    f"Expected a non-empty list of quoted strings in {context!r}"
                )
            if token.kind != "quoted" or token.quote not in "'\"":
                raise InvalidParameterValue(
                    f"Expected a list of quoted strings but found {token.text or 'nothing'} "
                    f"in {context!r}"
                )
            items.append(token.content)
            separator = self._advance()
            if separator.kind == "rparen":
                break
            if separator.kind != "comma":
                raise InvalidParameterValue(
                    f"Expected ',' or ')' in the list in {context!r}, found "
                    f"{separator.text or 'nothing'}"
                )
        return tuple(items)


def _as_operator(text: str) -> Operator:
    operators: dict[str, Operator] = {
        "=": "=",
        "!=": "!=",
        "<": "<",
        "<=": "<=",
        ">": ">",
        ">=": ">=",
        "LIKE": "LIKE",
        "ILIKE": "ILIKE",
        "IN": "IN",
    }
    return operators[text]


def _is_integer_literal(text: str) -> bool:
    return not any(char in text for char in ".eE")


def _flatten(clauses: list[Node], kind: type[And] | type[Or]) -> list[Node]:
    flat: list[Node] = []
    for clause in clauses:
        if isinstance(clause, kind):
            flat.extend(clause.clauses)
        else:
            flat.append(clause)
    return flat


def _parse_filter(text: str | None, grammar: _Grammar) -> Node | None:
    if text is None or not text.strip():
        return None
    return _FilterParser(text, grammar).parse()


@functools.lru_cache(maxsize=256)
def _parse_run_filter_text(text: str) -> Node | None:
    return _parse_filter(text, _RUNS)


def parse_run_filter(text: str | None) -> Node | None:
    """Parse a ``search_runs`` filter string; None or blank text means "every run".

    The trees are immutable, so a filter seen lately is not parsed again: a UI polling a
    runs table or a script paging through results sends the same one each time (its
    parse was ~0.08 of a ~1.1 ms search on SQLite).

    Raises:
        InvalidParameterValue: the filter is malformed; the message quotes the culprit.
    """
    if isinstance(text, str):
        return _parse_run_filter_text(text)
    return _parse_filter(text, _RUNS)


def parse_experiment_filter(text: str | None) -> Node | None:
    """Parse a ``search_experiments`` filter string; None or blank means "every experiment".

    Raises:
        InvalidParameterValue: the filter is malformed; the message quotes the culprit.
    """
    return _parse_filter(text, _EXPERIMENTS)


# ---------------------------------------------------------------------------------------
# order_by
# ---------------------------------------------------------------------------------------


def _parse_order_clause(clause: str, grammar: _Grammar) -> OrderKey:
    if not isinstance(clause, str) or not clause.strip():
        raise InvalidParameterValue(f"Invalid order_by clause {clause!r}: it is empty")
    try:
        tokens = _tokenize(clause)
    except InvalidParameterValue as exc:
        raise InvalidParameterValue(f"Invalid order_by clause {clause!r}: {exc.message}") from exc
    entity, key = _resolve_identifier(tokens[0], grammar, clause, ordering=True)
    ascending = True
    rest = tokens[1:-1]
    if rest:
        direction = rest[0].word
        if direction not in ("ASC", "DESC"):
            raise InvalidParameterValue(
                f"Invalid ordering direction {rest[0].text!r} in order_by clause {clause!r}; "
                "expected ASC or DESC"
            )
        ascending = direction == "ASC"
        if len(rest) > 1:
            raise InvalidParameterValue(
                f"Invalid order_by clause {clause!r}: expected '<key> [ASC|DESC]'"
            )
    return OrderKey(entity, key, ascending)


def _parse_order_by(
    clauses: Sequence[str] | None, grammar: _Grammar, tie_breakers: Sequence[OrderKey]
) -> list[OrderKey]:
    if isinstance(clauses, str):
        clauses = [clauses]
    keys = [_parse_order_clause(clause, grammar) for clause in clauses or ()]
    ordered = {(key.entity, key.key) for key in keys}
    keys.extend(key for key in tie_breakers if (key.entity, key.key) not in ordered)
    return keys


def parse_run_order_by(clauses: Sequence[str] | None) -> list[OrderKey]:
    """Parse ``search_runs``' order_by and append MLflow's tie-breakers.

    The user's keys come first, then ``start_time DESC`` and ``run_id ASC`` unless the user
    already ordered by them, so the order is total and paging is stable.

    Raises:
        InvalidParameterValue: a clause names an unknown key or direction.
    """
    return _parse_order_by(
        clauses,
        _RUNS,
        (OrderKey("attribute", "start_time", False), OrderKey("attribute", "run_id", True)),
    )


def parse_experiment_order_by(clauses: Sequence[str] | None) -> list[OrderKey]:
    """Parse ``search_experiments``' order_by; the default is newest first.

    The user's keys come first, then ``experiment_id ASC``; with no clauses the order is
    ``creation_time DESC, experiment_id ASC``.

    Raises:
        InvalidParameterValue: a clause names an unknown key or direction.
    """
    tie_breaker = OrderKey("attribute", "experiment_id", True)
    if not clauses:
        return [OrderKey("attribute", "creation_time", False), tie_breaker]
    return _parse_order_by(clauses, _EXPERIMENTS, (tie_breaker,))
