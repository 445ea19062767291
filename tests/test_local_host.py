"""The local host serves exactly the functions of function_app.py: one route table, not two."""

from __future__ import annotations

import httpx

import function_app
from local.host import create_app, functions_of, starlette_path, timers_of


def test_every_http_function_is_served_under_its_own_route_and_methods() -> None:
    functions = {
        f.get_function_name(): f.get_trigger()
        for f in functions_of(function_app.app)
        if f not in timers_of(function_app.app)
    }
    served = {route.name: route for route in create_app(function_app.app).routes}
    assert served.keys() == functions.keys()
    for name, trigger in functions.items():
        assert served[name].path == starlette_path(trigger.route)
        assert {str(getattr(m, "value", m)) for m in trigger.methods} <= served[name].methods


def test_there_is_one_function_per_operation_a_health_probe_and_a_cleanup_timer() -> None:
    names = {f.get_function_name() for f in functions_of(function_app.app)}
    assert len(names) == 28
    assert "health_check" in names
    assert [f.get_function_name() for f in timers_of(function_app.app)] == ["cleanup_timer"]


def test_route_templates_translate_constraints_and_optional_markers() -> None:
    assert starlette_path("{version}/studies/{study:regex(^[0-9.]+$)}/series/{series?}") == (
        "/{version}/studies/{study}/series/{series}"
    )


def test_unknown_paths_answer_404_problem_json_with_a_hint(client: httpx.Client, service) -> None:
    response = client.get(f"{service.url}/studies")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "/v1/ or /v2/" in response.json()["detail"]
