# TEMPORARY local binding of the contract suite; removed before hand-off.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
from contract.experiments import ExperimentContract
from contract.metrics import MetricContract
from contract.runs import RunContract

from cairn.store.sql.store import SqlStore


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def store(request, store_uri_factory):
    s = SqlStore(store_uri_factory(request.param))
    yield s
    s.dispose()


class TestSql(ExperimentContract, RunContract, MetricContract):
    pass
