"""Filter and order_by text -> AST: MLflow's grammar plus Cairn's OR/parentheses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cairn.exceptions import ErrorCode, InvalidParameterValue
from cairn.search.ast import And, Comparison, Node, Or, OrderKey
from cairn.search.grammar import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)

C = Comparison

VALID_RUN_FILTERS: list[tuple[str, Node]] = [
    ("metrics.acc > 0.9", C("metric", "acc", ">", 0.9)),
    ("metric.acc >= 1", C("metric", "acc", ">=", 1.0)),
    ("metrics.loss<=-1.5e-3", C("metric", "loss", "<=", -1.5e-3)),
    ("metrics.a != .5", C("metric", "a", "!=", 0.5)),
    ("metrics.a = 1.", C("metric", "a", "=", 1.0)),
    ("metrics.a>1", C("metric", "a", ">", 1.0)),
    ("metrics.a < 1e400", C("metric", "a", "<", float("inf"))),
    ("metrics.`f1 score` > 0.5", C("metric", "f1 score", ">", 0.5)),
    ('metrics."f1 score" > 0.5', C("metric", "f1 score", ">", 0.5)),
    ("metrics.train.loss < 2", C("metric", "train.loss", "<", 2.0)),
    ("params.model = 'cnn'", C("param", "model", "=", "cnn")),
    ('param.model = "cnn"', C("param", "model", "=", "cnn")),
    ("parameter.model != 'cnn'", C("param", "model", "!=", "cnn")),
    ("parameters.model LIKE 'c%'", C("param", "model", "LIKE", "c%")),
    ("params.model ilike 'C_N'", C("param", "model", "ILIKE", "C_N")),
    ("params.model.lr = '0.1'", C("param", "model.lr", "=", "0.1")),
    ('params."a.b" = "x"', C("param", "a.b", "=", "x")),
    ("params.`a b` = 'x'", C("param", "a b", "=", "x")),
    ("params.1abc = 'x'", C("param", "1abc", "=", "x")),
    ("`params`.`a` = 'x'", C("param", "a", "=", "x")),
    ("params.a = ''", C("param", "a", "=", "")),
    ('params.a = "it\'s"', C("param", "a", "=", "it's")),
    # quoted text is verbatim, as in MLflow: doubled quotes are not collapsed
    ("params.a = 'it''s'", C("param", "a", "=", "it''s")),
    ("params.a = 'a\\'b'", C("param", "a", "=", "a\\'b")),
    ("params.a = 'x = y AND z'", C("param", "a", "=", "x = y AND z")),
    # Cairn extension: an unquoted number compares params numerically
    ("params.lr > 0.01", C("param", "lr", ">", 0.01)),
    ("params.layers = 3", C("param", "layers", "=", 3.0)),
    ("tags.team = 'ml'", C("tag", "team", "=", "ml")),
    ("tag.mlflow.runName LIKE '%run%'", C("tag", "mlflow.runName", "LIKE", "%run%")),
    ("tags.`a.b` != 'x'", C("tag", "a.b", "!=", "x")),
    ("tags.'a b' = 'x'", C("tag", "a b", "=", "x")),
    ("tags.a LiKe '%x'", C("tag", "a", "LIKE", "%x")),
    ("attributes.status = 'FINISHED'", C("attribute", "status", "=", "FINISHED")),
    ("attribute.status != 'RUNNING'", C("attribute", "status", "!=", "RUNNING")),
    ("attr.run_name LIKE 'x%'", C("attribute", "run_name", "LIKE", "x%")),
    ("run.user_id = 'bob'", C("attribute", "user_id", "=", "bob")),
    ("status = 'FAILED'", C("attribute", "status", "=", "FAILED")),
    ("artifact_uri ILIKE '%S3%'", C("attribute", "artifact_uri", "ILIKE", "%S3%")),
    ("run_name = 'x'", C("attribute", "run_name", "=", "x")),
    ("`Run name` = 'x'", C("attribute", "run_name", "=", "x")),
    ("\"Run Name\" = 'x'", C("attribute", "run_name", "=", "x")),
    ("attributes.`run name` = 'x'", C("attribute", "run_name", "=", "x")),
    ("created > 5", C("attribute", "start_time", ">", 5)),
    ("Created <= 5", C("attribute", "start_time", "<=", 5)),
    ("attributes.start_time >= 1700000000000", C("attribute", "start_time", ">=", 1700000000000)),
    ("end_time != 5.5", C("attribute", "end_time", "!=", 5.5)),
    ("run_uuid = 'abc'", C("attribute", "run_id", "=", "abc")),
    ("attributes.run_id IN ('a','b')", C("attribute", "run_id", "IN", ("a", "b"))),
    ("run_id in (\"a\", 'b',)", C("attribute", "run_id", "IN", ("a", "b"))),
    ("run_id NOT IN ('a')", C("attribute", "run_id", "NOT IN", ("a",))),
    ("run_id not   in ('a')", C("attribute", "run_id", "NOT IN", ("a",))),
    ("datasets.name = 'iris'", C("dataset", "name", "=", "iris")),
    ("dataset.digest LIKE 'ab%'", C("dataset", "digest", "LIKE", "ab%")),
    ("datasets.context IN ('train', 'eval')", C("dataset", "context", "IN", ("train", "eval"))),
    ("dataset.name NOT IN ('a')", C("dataset", "name", "NOT IN", ("a",))),
    (
        "metrics.a > 1 and params.b = 'x' AND tags.c != 'y'",
        And((C("metric", "a", ">", 1.0), C("param", "b", "=", "x"), C("tag", "c", "!=", "y"))),
    ),
    (
        "params.a='x'and params.b='y'",
        And((C("param", "a", "=", "x"), C("param", "b", "=", "y"))),
    ),
    # MLflow tolerates stray ANDs
    ("AND metrics.a > 1 AND", C("metric", "a", ">", 1.0)),
    (
        "metrics.a > 1 and and metrics.b > 1",
        And((C("metric", "a", ">", 1.0), C("metric", "b", ">", 1.0))),
    ),
    # ... and read comparisons side by side as a conjunction
    (
        "params.a = 'x' tags.b = 'y'",
        And((C("param", "a", "=", "x"), C("tag", "b", "=", "y"))),
    ),
    # Cairn extensions: OR and parentheses, AND binding tighter than OR
    (
        "metrics.a > 1 OR metrics.b > 1 AND metrics.c > 1",
        Or(
            (
                C("metric", "a", ">", 1.0),
                And((C("metric", "b", ">", 1.0), C("metric", "c", ">", 1.0))),
            )
        ),
    ),
    (
        "(metrics.a > 1 or metrics.b > 1) and metrics.c > 1",
        And(
            (
                Or((C("metric", "a", ">", 1.0), C("metric", "b", ">", 1.0))),
                C("metric", "c", ">", 1.0),
            )
        ),
    ),
    ("((metrics.a > 1))", C("metric", "a", ">", 1.0)),
    (
        "metrics.a > 1 OR (metrics.b > 1 OR metrics.c > 1)",
        Or(tuple(C("metric", k, ">", 1.0) for k in "abc")),
    ),
    (
        "(params.a='x')AND(params.b='y')",
        And((C("param", "a", "=", "x"), C("param", "b", "=", "y"))),
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALID_RUN_FILTERS)
def test_valid_run_filters(text: str, expected: Node) -> None:
    assert parse_run_filter(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_blank_filter_means_everything(text: str | None) -> None:
    assert parse_run_filter(text) is None
    assert parse_experiment_filter(text) is None


INVALID_RUN_FILTERS: list[tuple[str, str]] = [
    ("metrics.a ~ 1", "Invalid comparator '~' in 'metrics.a ~ 1'"),
    ("metrics.a <> 1", "Invalid comparator '<>'"),
    ("metrics.a == 1", "Invalid comparator '=='"),
    ("metricz.a = 1", "Invalid entity type 'metricz'"),
    ("METRICS.a = 1", "Invalid entity type 'METRICS'"),
    ("params.a = 'x' && tags.b = 'y'", "Invalid character '&'"),
    ("tags.my-tag = 'x'", "Invalid character '-'"),
    ("foo = 'x'", "Invalid attribute key 'foo'"),
    ("RUN_ID = 'x'", "Invalid attribute key 'RUN_ID'"),
    ("experiment_id = '1'", "Invalid attribute key 'experiment_id'"),
    ("datasets.foo = 'x'", "Invalid dataset key 'foo'"),
    ("tags.x = y", "Expected a quoted string value"),
    ("params.a = `x`", "Expected a quoted string value"),
    ("run_id = 5", "Expected a quoted string value"),
    ("params.a LIKE 5", "Expected a quoted string value"),
    ("tags.a = 5", "Expected a quoted string value"),
    ("metrics.a = 'x'", "Expected a numeric value for metric 'a'"),
    ("metrics.a > nan", "Expected a numeric value"),
    ("start_time > '5'", "Expected a numeric value for attribute 'start_time'"),
    ("end_time = NULL", "Expected a numeric value"),
    ("metrics.a LIKE 1", "Invalid comparator 'LIKE' for numeric metric 'a'"),
    ("params.a > 'x'", "Invalid comparator '>' for string param 'a'"),
    ("status < 'x'", "Invalid comparator '<'"),
    ("run_name IN ('a')", "support IN"),
    ("status NOT IN ('a')", "support NOT IN"),
    ("tags.a IN ('x')", "support IN"),
    ("metrics.a IN (1, 2)", "Invalid comparator 'IN' for numeric metric"),
    ("run_id IN ()", "non-empty list"),
    ("run_id IN (a)", "Expected a list of quoted strings but found a"),
    ("run_id IN 'a'", "Expected a parenthesised list"),
    ("run_id IN ('a' 'b')", "Expected ',' or ')'"),
    ("run_id IN ('a'", "Expected ',' or ')'"),
    ("params.a NOT LIKE 'x'", "Invalid comparator 'NOT LIKE'"),
    ("tags.a IS NULL", "Invalid comparator 'IS NULL'"),
    ("metrics.a", "Expected a comparator"),
    ("metrics.a 1", "Expected a comparator but found '1'"),
    ("= 1", "Expected an identifier but found '='"),
    ("'Run Name' = 'x'", "Expected an identifier but found the string 'Run Name'"),
    ("metrics.a > 1 1", "Invalid clause '1'"),
    ("metrics.a > 1e", "Invalid number '1e'"),
    ("metrics.a > 1.2.3", "Invalid number '1.2.3'"),
    ("metrics.a > +1", "Invalid character '+'"),
    ("metrics.a > 1 OR", "ends where a comparison should be"),
    ("metrics.a > 1 OR OR metrics.b > 1", "Expected an identifier but found 'OR'"),
    ("metrics.a > 1 AND OR metrics.b > 1", "Expected an identifier but found 'OR'"),
    ("(metrics.a > 1", "Unbalanced parentheses"),
    ("metrics.a > 1)", "Unbalanced parentheses"),
    ("(metrics.a > 1))", "Unbalanced parentheses"),
    (")metrics.a > 1(", "Unbalanced parentheses"),
    ("()", "Empty parentheses"),
    ("(metrics.a > 1 1)", "expected ')', AND or OR"),
    ("params.a = 'x", "Unterminated quoted string"),
    ("metrics.`a > 1", "Unterminated quoted string"),
    ("params.a = 'x' = 'y'", "expected AND or OR"),
]


@pytest.mark.parametrize(("text", "message"), INVALID_RUN_FILTERS)
def test_invalid_run_filters(text: str, message: str) -> None:
    for _ in range(2):  # refused again when sent again (parses are kept, failures not)
        with pytest.raises(InvalidParameterValue) as info:
            parse_run_filter(text)
        assert message in info.value.message
        assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'exp'", C("attribute", "name", "=", "exp")),
        ("attribute.name LIKE 'e%'", C("attribute", "name", "LIKE", "e%")),
        ("attributes.name ILIKE 'E%'", C("attribute", "name", "ILIKE", "E%")),
        ("creation_time > 5", C("attribute", "creation_time", ">", 5)),
        ("last_update_time <= 5", C("attribute", "last_update_time", "<=", 5)),
        ("experiment_id = '1'", C("attribute", "experiment_id", "=", "1")),
        ("experiment_id IN ('1', '2')", C("attribute", "experiment_id", "IN", ("1", "2"))),
        ("tags.team != 'x'", C("tag", "team", "!=", "x")),
        ("tag.`a b` LIKE 'x%'", C("tag", "a b", "LIKE", "x%")),
        (
            "name = 'a' OR tags.x = 'y'",
            Or((C("attribute", "name", "=", "a"), C("tag", "x", "=", "y"))),
        ),
    ],
)
def test_valid_experiment_filters(text: str, expected: Node) -> None:
    assert parse_experiment_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("params.a = 'x'", "Invalid entity type 'params'"),
        ("metrics.a > 1", "Invalid entity type 'metrics'"),
        ("lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage'"),
        ("name IN ('a')", "support IN"),
        ("creation_time = '1'", "Expected a numeric value"),
        ("name > 'a'", "Invalid comparator '>'"),
        ("tags.a = 1", "Expected a quoted string value"),
    ],
)
def test_invalid_experiment_filters(text: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=None) as info:
        parse_experiment_filter(text)
    assert message in info.value.message


START_DESC = OrderKey("attribute", "start_time", False)
RUN_ID_ASC = OrderKey("attribute", "run_id", True)


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        (None, [START_DESC, RUN_ID_ASC]),
        ([], [START_DESC, RUN_ID_ASC]),
        (["metrics.a"], [OrderKey("metric", "a", True), START_DESC, RUN_ID_ASC]),
        (["metrics.a DESC"], [OrderKey("metric", "a", False), START_DESC, RUN_ID_ASC]),
        (["metrics.`a b` asc"], [OrderKey("metric", "a b", True), START_DESC, RUN_ID_ASC]),
        (["params.x.y desc"], [OrderKey("param", "x.y", False), START_DESC, RUN_ID_ASC]),
        (
            ["tags.t", 'params."p q" DESC'],
            [OrderKey("tag", "t", True), OrderKey("param", "p q", False), START_DESC, RUN_ID_ASC],
        ),
        (["start_time ASC"], [OrderKey("attribute", "start_time", True), RUN_ID_ASC]),
        (["created"], [OrderKey("attribute", "start_time", True), RUN_ID_ASC]),
        (["attributes.run_id DESC"], [OrderKey("attribute", "run_id", False), START_DESC]),
        (["run_uuid"], [RUN_ID_ASC, START_DESC]),
        (["`Run name` DESC"], [OrderKey("attribute", "run_name", False), START_DESC, RUN_ID_ASC]),
        (["status"], [OrderKey("attribute", "status", True), START_DESC, RUN_ID_ASC]),
        (["end_time"], [OrderKey("attribute", "end_time", True), START_DESC, RUN_ID_ASC]),
        (
            ["experiment_id", "lifecycle_stage desc"],
            [
                OrderKey("attribute", "experiment_id", True),
                OrderKey("attribute", "lifecycle_stage", False),
                START_DESC,
                RUN_ID_ASC,
            ],
        ),
        (["  metrics.a   asc  "], [OrderKey("metric", "a", True), START_DESC, RUN_ID_ASC]),
        # a metric called start_time is not the attribute: the tie-breaker stays
        (
            ["metrics.start_time"],
            [OrderKey("metric", "start_time", True), START_DESC, RUN_ID_ASC],
        ),
    ],
)
def test_run_order_by(clauses: list[str] | None, expected: list[OrderKey]) -> None:
    assert parse_run_order_by(clauses) == expected


@pytest.mark.parametrize(
    ("clause", "message"),
    [
        ("metrics.a DOWN", "Invalid ordering direction 'DOWN'"),
        ("metrics.a ASC DESC", "expected '<key> [ASC|DESC]'"),
        ("foo", "Invalid attribute key 'foo'"),
        ("metricz.a", "Invalid entity type 'metricz'"),
        ("datasets.name", "Cannot order by dataset"),
        ("", "it is empty"),
        ("metrics.a,metrics.b", "Invalid ordering direction ','"),
        ("metrics.a > 1", "Invalid ordering direction '>'"),
        ("metrics.`a", "Unterminated quoted string"),
    ],
)
def test_invalid_run_order_by(clause: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        parse_run_order_by([clause])
    assert message in info.value.message


EXP_ID_ASC = OrderKey("attribute", "experiment_id", True)


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        (None, [OrderKey("attribute", "creation_time", False), EXP_ID_ASC]),
        (["name"], [OrderKey("attribute", "name", True), EXP_ID_ASC]),
        (["last_update_time DESC"], [OrderKey("attribute", "last_update_time", False), EXP_ID_ASC]),
        (["experiment_id desc"], [OrderKey("attribute", "experiment_id", False)]),
        (["tags.team"], [OrderKey("tag", "team", True), EXP_ID_ASC]),
    ],
)
def test_experiment_order_by(clauses: list[str] | None, expected: list[OrderKey]) -> None:
    assert parse_experiment_order_by(clauses) == expected


@pytest.mark.parametrize("clause", ["lifecycle_stage", "metrics.a", "start_time", "name UP"])
def test_invalid_experiment_order_by(clause: str) -> None:
    with pytest.raises(InvalidParameterValue):
        parse_experiment_order_by([clause])


# ---------------------------------------------------------------------------------------
# Side by side with the reference MLflow: what it accepts, Cairn accepts with one meaning.
# ---------------------------------------------------------------------------------------

_MLFLOW_SCRIPT = """
import json, sys
from mlflow.utils.search_utils import SearchUtils
out = []
# MLflow checks comparators only while evaluating; apply the same sets here.
# IS [NOT] NULL (3.x only, absent from 2.17) is left out on purpose.
valid = {
    "metric": SearchUtils.VALID_METRIC_COMPARATORS,
    "parameter": SearchUtils.VALID_PARAM_COMPARATORS - {"IS NULL", "IS NOT NULL"},
    "tag": SearchUtils.VALID_TAG_COMPARATORS - {"IS NULL", "IS NOT NULL"},
    "dataset": SearchUtils.VALID_DATASET_COMPARATORS,
}
def ok(c):
    op = c["comparator"].upper()
    if c["type"] == "attribute":
        if c["key"] in SearchUtils.NUMERIC_ATTRIBUTES:
            return op in SearchUtils.VALID_NUMERIC_ATTRIBUTE_COMPARATORS
        return op in SearchUtils.VALID_STRING_ATTRIBUTE_COMPARATORS
    return op in valid[c["type"]]
for text in json.load(sys.stdin):
    try:
        clauses = SearchUtils.parse_search_filter(text)
    except Exception:
        out.append(None)
        continue
    if all(ok(c) for c in clauses):
        out.append([[c["type"], c["key"], c["comparator"].upper(), c["value"]] for c in clauses])
    else:
        out.append(None)
print(json.dumps(out))
"""

# MLflow parses the list with Python's literal_eval, so adjacent strings concatenate.
_MLFLOW_QUIRKS_CAIRN_REJECTS = {"run_id IN ('a' 'b')"}
_ENTITY_NAMES = {"parameter": "param"}
_MLFLOW_ALIASES = {"created": "start_time", "Created": "start_time", "Run name": "run_name",
                   "run name": "run_name", "Run Name": "run_name"}  # fmt: skip


def _as_mlflow_clauses(node: Node | None) -> list[list[object]]:
    clauses = node.clauses if isinstance(node, And) else (node,)
    result: list[list[object]] = []
    for clause in clauses:
        assert isinstance(clause, Comparison)
        value = list(clause.value) if isinstance(clause.value, tuple) else clause.value
        result.append([clause.entity, clause.key, clause.op, value])
    return result


def _normalise_mlflow(clause: list[object]) -> list[object]:
    entity, key, op, value = clause
    entity = _ENTITY_NAMES.get(str(entity), entity)
    if entity == "attribute":
        key = _MLFLOW_ALIASES.get(str(key), key)
    if entity == "metric" or (entity == "attribute" and key in ("start_time", "end_time")):
        value = float(str(value))
    return [entity, key, op, value]


@pytest.mark.mlflow
def test_mlflow_accepts_the_same_filters_with_the_same_meaning(mlflow_python: Path) -> None:
    mlflow_valid = [
        text
        for text, _ in VALID_RUN_FILTERS
        # Cairn extensions that MLflow rejects by design
        if " or " not in text.lower()
        and "(" not in text.replace("IN (", "").replace("in (", "")
        and not text.startswith("params.lr >")
        and not text.startswith("params.layers =")
        and not text.startswith("run_uuid")
    ]
    texts = mlflow_valid + [text for text, _ in INVALID_RUN_FILTERS]
    completed = subprocess.run(
        [str(mlflow_python), "-c", _MLFLOW_SCRIPT],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    parsed_by_mlflow = json.loads(completed.stdout.strip().splitlines()[-1])
    for text, mlflow_clauses in zip(texts, parsed_by_mlflow, strict=True):
        try:
            cairn_clauses = _as_mlflow_clauses(parse_run_filter(text))
        except InvalidParameterValue:
            cairn_clauses = None
        if mlflow_clauses is None or text in _MLFLOW_QUIRKS_CAIRN_REJECTS:
            continue  # MLflow rejects it; Cairn may reject it too or (as an extension) not
        assert cairn_clauses is not None, f"MLflow accepts {text!r} but Cairn does not"
        expected = [_normalise_mlflow(clause) for clause in mlflow_clauses]
        assert cairn_clauses == expected, text
