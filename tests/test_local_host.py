"""The local host serves exactly the functions of function_app.py: one route table, not two."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

import function_app
from local.azurite import free_port
from local.host import create_app, functions_of, queue_functions_of, starlette_path, timers_of
from tests.conftest import REPO


def test_every_http_function_is_served_under_its_own_route_and_methods() -> None:
    functions = {
        f.get_function_name(): f.get_trigger()
        for f in functions_of(function_app.app)
        if f not in timers_of(function_app.app) + queue_functions_of(function_app.app)
    }
    served = {route.name: route for route in create_app(function_app.app).routes}
    assert served.keys() == functions.keys()
    for name, trigger in functions.items():
        assert served[name].path == starlette_path(trigger.route)
        assert {str(getattr(m, "value", m)) for m in trigger.methods} <= served[name].methods


DICOMWEB_FUNCTIONS = {
    "store_instances", "store_instances_in_study", "upsert_instances", "upsert_instances_in_study",
    "search_studies", "search_series", "search_instances", "search_series_in_study", "search_instances_in_study",
    "search_instances_in_series", "delete_study", "delete_series", "delete_instance", "retrieve_frames",
    "retrieve_bulkdata", "render_instance", "render_frame",
    *(f"retrieve_{level}{what}" for level in ("study", "series", "instance") for what in ("", "_metadata")),
    *(f"{level}_thumbnail" for level in ("study", "series", "instance")),
}  # fmt: skip


def test_there_is_one_function_per_operation_a_health_probe_and_a_cleanup_timer() -> None:
    names = {f.get_function_name() for f in functions_of(function_app.app)}
    assert len(DICOMWEB_FUNCTIONS) == 26
    assert names >= DICOMWEB_FUNCTIONS
    assert {f"{name}_in_partition" for name in DICOMWEB_FUNCTIONS} <= names, "each also inside a data partition"
    assert {"health_check", "retrieve_partitions", "cleanup_timer"} <= names
    assert [f.get_function_name() for f in timers_of(function_app.app)] == ["cleanup_timer"]
    assert [f.get_function_name() for f in queue_functions_of(function_app.app)] == ["operations_queue"]


def test_route_templates_translate_constraints_and_optional_markers() -> None:
    assert starlette_path("{version}/studies/{study:regex(^[0-9.]+$)}/series/{series?}") == (
        "/{version}/studies/{study}/series/{series}"
    )


def test_unknown_paths_answer_404_problem_json_with_a_hint(client: httpx.Client, service) -> None:
    response = client.get(f"{service.url}/studies")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "/v1/ or /v2/" in response.json()["detail"]


def test_make_run_refuses_to_start_when_an_azurite_port_is_taken_and_says_how_to_choose_others(
    tmp_path: Path,
) -> None:
    """The host must not serve (and write into) whatever emulator already holds Azurite's ports."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = {"AZURITE_BLOB_PORT": str(taken), "AZURITE_TABLE_PORT": str(free_port())}
        ports["AZURITE_QUEUE_PORT"] = str(free_port())
        host = subprocess.Popen(
            [sys.executable, "-m", "local.host", "--port", str(free_port()), "--with-azurite", str(tmp_path)],
            cwd=REPO,
            env={**os.environ, **ports, "DICOM_AUTH_ENABLED": "false"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output = ""
        for line in host.stdout:
            output += line
            if "DICOMweb API at" in line:  # serving: the failure this test exists for; stop it (and its Azurite)
                host.terminate()
                break
        host.wait(timeout=60)
    assert host.returncode != 0 and "DICOMweb API at" not in output
    assert f"127.0.0.1:{taken} (blob) is already in use" in output
    assert "AZURITE_BLOB_PORT=" in output and "AZURITE_TABLE_PORT=" in output and "AZURITE_QUEUE_PORT=" in output
