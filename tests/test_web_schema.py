"""schemathesis against the service's own OpenAPI schema: generated requests to every
operation (with a relying party's key, so the check API is exercised past its door)
never get a server error, and the schema is what the relying parties are told."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from socialrating.store import access
from socialrating.web import security
from socialrating.web.app import create_app
from web_fixture import copy_run

_state: dict = {}


def _app():
    """Built lazily (the schema is read when the test is collected; the run exists later)."""
    return _state["app"]


@pytest.fixture(scope="module", autouse=True)
def served(web_run, tmp_path_factory):
    app = create_app(copy_run(web_run, tmp_path_factory.mktemp("schema") / "run"),
                     throttle=security.Throttle(per_ip=10 ** 6))
    with app.state.svc.lock:
        _, key = access.issue(app.state.svc.store, "org", "Fuzz", contexts=("credit", "travel"))
    _state.update(app=app, key=key)
    yield
    app.state.svc.close()


def test_no_server_error(served):
    """Every operation, up to 25 generated cases each: none answered with a 5xx."""
    from hypothesis import given

    schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
    tried = {"operations": 0, "cases": 0}
    for result in schema.get_all_operations():
        op = result.ok()
        tried["operations"] += 1

        @given(case=op.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call(headers={"Authorization": f"Bearer {_state['key']}"})
            case.validate_response(response, checks=[not_a_server_error])
            tried["cases"] += 1

        run()
    print(f"\nschemathesis: {tried['cases']} generated requests over {tried['operations']} operations, no 5xx")
    assert tried["operations"] >= 20


def test_schema_documents_the_check_api(served):
    spec = _app().openapi()
    op = spec["paths"]["/api/v1/checks"]["post"]
    assert set(op["responses"]) >= {"200", "401", "403", "404", "422"}
    answer = spec["components"]["schemas"]["CheckAnswer"]["properties"]
    assert {"decision", "reason_code", "consequences", "check_id", "synthetic"} <= set(answer)
