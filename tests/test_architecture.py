"""The file tree is the architecture: each layer imports only the layers below it, and a fresh clone is whole.

function_app -> api/<area> -> shared -> archive -> dicom -> dicomweb_wire
             (shared: the HTTP plumbing, which resolves a request's data partition in the archive)
dicomweb_cli -> dicomweb_wire                 local -> function_app, archive, shared
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "archive", "dicom", "dicomweb_wire", "shared", "local", "dicomweb_cli")
# What each package may import from the repository (besides itself).
ALLOWED = {
    "dicomweb_wire": set(),
    "dicom": {"dicomweb_wire"},
    "archive": {"dicom", "dicomweb_wire"},
    "shared": {"archive", "dicom", "dicomweb_wire"},
    "api": {"archive", "dicom", "dicomweb_wire", "shared"},
    "local": {"archive", "shared", "function_app"},
    "dicomweb_cli": {"dicomweb_wire"},
}
MAX_MODULE_LINES = 400


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def repo_imports(path: Path) -> set[str]:
    """Top-level repository packages a module imports (relative imports stay inside its own package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & {*PACKAGES, "function_app"}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_layers_below_it(package: str) -> None:
    for path in modules(package):
        upward = repo_imports(path) - ALLOWED[package] - {package}
        assert not upward, f"{path.relative_to(REPO)} imports {sorted(upward)}"


@pytest.mark.parametrize("package", ["archive", "dicom", "dicomweb_wire"])
def test_lower_layers_never_speak_http(package: str) -> None:
    for path in modules(package):
        text = path.read_text()
        assert "starlette" not in text and "DicomWebError" not in text, path.relative_to(REPO)


def test_only_the_archive_knows_table_keys_and_blob_names() -> None:
    for path in [*modules("api"), *modules("shared")]:
        text = path.read_text()
        for internal in ("RowKey", "PartitionKey", "SEPARATOR", "instance_blob", "metadata_blob", '"C|"', '"B|"'):
            assert internal not in text, f"{path.relative_to(REPO)} uses {internal}"


def test_every_api_area_is_a_blueprint_registered_by_the_app() -> None:
    areas = sorted(p.parent.name for p in (REPO / "api").glob("*/blueprint.py"))
    assert areas == [
        "changefeed",
        "delete",
        "extendedquerytags",
        "folders",
        "operations",
        "partitions",
        "qido",
        "shares",
        "stow",
        "wado",
        "worklist",
    ]
    app = (REPO / "function_app.py").read_text()
    for area in areas:
        assert f"from api.{area}.blueprint import blueprint" in app


def test_no_module_is_a_house_of_its_own() -> None:
    for package in PACKAGES:
        for path in modules(package):
            lines = len(path.read_text().splitlines())
            assert lines <= MAX_MODULE_LINES, f"{path.relative_to(REPO)} has {lines} lines"


def test_nothing_reads_files_from_outside_the_repository() -> None:
    """A user's clone has nothing beside it: tests, README, Makefile and CI use only what the repo holds."""
    outside = re.compile(r"\.\./shared|parent\.parent\.parent")
    places = [REPO / "README.md", REPO / "Makefile", *(REPO / ".ci").iterdir(), *(REPO / "tests").glob("*.py")]
    for path in places:
        if path.resolve() != Path(__file__).resolve():
            assert not outside.search(path.read_text()), path.relative_to(REPO)
    assert sorted(p.name for p in (REPO / "samples" / "tutorial").glob("*.dcm")) == [
        "blue-circle.dcm", "green-square.dcm", "red-triangle.dcm",
    ]  # fmt: skip


def test_the_client_and_local_hosting_are_not_deployed_with_the_function_app() -> None:
    ignored = (REPO / ".funcignore").read_text().split()
    for folder in ("dicomweb_cli/", "local/", "samples/", "tests/", "bench/"):
        assert folder in ignored
    requirements = (REPO / "requirements.txt").read_text()
    for client_only in ("rich", "msal", "httpx", "uvicorn"):
        assert not re.search(rf"^{client_only}\b", requirements, re.M), client_only
