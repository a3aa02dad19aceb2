"""API contract tests: schemathesis generates requests from the served OpenAPI schema (the same
ones every run: hypothesis derandomized) and checks each answer against it (no server errors,
documented status codes and content types, response bodies that match their schemas, refusals
without the token).

The operations are driven with schemathesis's Python API and hypothesis directly: its pytest
loader (``from_fixture``) does not work with pytest 9 (it sets ``node._nodeid``)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.api.served import TOKEN, Served

SKIPPED = {"/api/stream"}  # an endless stream; tested in test_api.py
# Requests valid by the schema that rules beyond it refuse (422/400, named): a watchlist value
# that must be a whole number for match "identity", a valid regex for "plate_regex"; a search
# image that must decode and be at least 8x8; a time range whose `since` is after its `until`.
# Every other check still runs on these operations.
BEYOND_SCHEMA = {
    ("POST", "/api/search"),
    ("POST", "/api/watchlist"),
    ("PUT", "/api/watchlist/{entry}"),
    ("GET", "/api/sightings"),
}


def _operations(served: Served) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(f"{served.url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if op.path not in SKIPPED]


def _run(operation: schemathesis.APIOperation) -> None:
    """Up to 20 generated requests against one operation, each answer checked."""
    key = (operation.method.upper(), operation.path)
    excluded = [positive_data_acceptance] if key in BEYOND_SCHEMA else []

    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded)

    check()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_the_api_keeps_its_contract(served: Served, method: str) -> None:
    operations = [op for op in _operations(served) if op.method.upper() == method]
    assert operations
    for operation in operations:
        _run(operation)
