"""schemathesis, run against the live server (``imagen-bridge serve`` on a real socket) from
the spec it serves: no 5xx, and every answer fits the spec."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import positive_data_acceptance

from bridge.server.app import OPERATIONS
from tests.server.test_serve import _config, _start, _wait_for_server_file

EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def live_server() -> Iterator[dict[str, Any]]:
    process = _start("--port", "0")
    try:
        info = _wait_for_server_file(process)
        yield {**info, "token": (_config() / "token").read_text().strip()}
    finally:
        process.terminate()
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "Traceback" not in err, err


def _explore(
    operation: APIOperation, mode: GenerationMode, origin: str, auth: dict[str, str]
) -> list[int]:
    """Send ``EXAMPLES_PER_OPERATION`` generated requests and check every answer against the
    spec (status documented, schema, content type, headers; no 5xx; invalid data refused).
    Returns the statuses.

    Not checked: that every schema-valid request succeeds. A schema cannot say that a photo
    must exist or that a profile key must be one of the account's; those are 422s by design.
    """
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(case=operation.as_strategy(mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            base_url=origin, headers=auth, timeout=30, excluded_checks=[positive_data_acceptance]
        )
        statuses.append(response.status_code)

    check()
    return statuses


def test_no_server_errors_and_every_answer_fits_the_spec(live_server: dict[str, Any]) -> None:
    origin = live_server["url"].removesuffix("/v1")
    auth = {"Authorization": f"Bearer {live_server['token']}"}
    schema = schemathesis.openapi.from_url(f"{live_server['url']}/openapi.json", headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    # schemathesis leaves out the document it was loaded from
    assert len(operations) == len(OPERATIONS) - 1
    failures: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    for operation in operations:
        if operation.path.endswith("/events"):
            continue  # an endless stream for a job that may exist; covered in test_events.py
        for mode in GenerationMode:
            try:
                statuses.update(_explore(operation, mode, origin, auth))
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # a route without inputs has no bad ones
            except Exception as exc:  # every operation is tried; all failures are reported
                failures.append(f"{operation.label} ({mode.value} data): {exc}")
    assert not failures, "\n\n".join(failures)
    assert statuses.total() >= 20 * (len(operations) - 1), statuses
    assert {400, 401, 404, 422} <= set(statuses), statuses  # bad input was sent, and refused
