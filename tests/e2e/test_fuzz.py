"""A short schemathesis run against a real server's OpenAPI schema: no generated request gets a 5xx.

The longer run is in the README's development section (`schemathesis run ... --checks not_a_server_error`).
Cases are drawn with Hypothesis inside one test (schemathesis's pytest plugin does not load on this pytest).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.fixtures.server import running_server

EXAMPLES_PER_OPERATION = 40


@pytest.mark.slow  # schemathesis generates requests for every route: about 9 s; .ci/run runs it
def test_no_generated_request_gets_a_server_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    with running_server(tiny_model_dir, f"sqlite:///{tmp_path / 'fuzz.db'}", tmp_path / "server.log") as server:
        schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/v1/score", "/v1/reports"}
        failures: list[str] = []
        calls = {"n": 0}
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call(timeout=30)
                calls["n"] += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")

            fuzz()
        print(f"{calls['n']} requests over {len(operations)} operations")
        assert calls["n"] >= len(operations) * 5
        assert not failures, failures[:5]
