"""bench.load drives the service as a deployment's callers do: with an API key the service accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench.load import api_key
from serving.accounts import check_api_key


@pytest.mark.slow
def test_the_bench_key_is_one_the_service_accepts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/load.db"
    key = api_key(url)
    with Session(create_engine(url)) as session:
        row = check_api_key(session, key)
        assert row is not None and row.name == "load-bench"
        assert check_api_key(session, key + "x") is None


def test_the_one_window_latencies_are_those_of_requests_whose_comment_fits() -> None:
    from bench.load import one_window_ms

    row = {"latencies": [0.010, 0.200, 0.012, 0.011], "firsts": [0, 1, 2, 0]}
    assert one_window_ms(row, [True, False, True]) == [10.0, 12.0, 11.0]
