"""The OHIF viewer served by the local host at /viewer, in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by Selenium, on the real local host over HTTP on Azurite, as `make run` serves it
(authentication off). The archive holds the README's tutorial study and another patient's study.

The browser opens the study list, reads the tutorial study's row (modality, 3 instances), filters by part of the
patient's name, opens the study in OHIF's basic viewer as a user does (row, then "Basic Viewer"), and reads the
pixels of the viewport and of the series thumbnails. It saves docs/viewer-list.png and docs/viewer-study.png.

Then the same build as staged for Azure, on an origin of its own that the API allows (CORS): the one stand-in is
for Azure Static Web Apps, whose rules (fallback, headers with the Content-Security-Policy, media types) a small
server here applies from the staged staticwebapp.config.json. Entra ID's sign-in cannot run here: the staged
configuration has no `oidc` (its content is checked without a browser).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from local.azurite import Azurite, free_port, wait_for_port
from local.viewer import DIST, stage
from tests.archive import Archive
from tests.conftest import REPO, LocalHost, secured
from tests.dicom_factory import TUTORIAL, make_instance
from tests.entra import TENANT, Jwks
from tests.helpers import store

TUTORIAL_STUDY = "1.2.826.0.1.3680043.8.498.13230779778012324449356534479549187420"
LIST_SCREENSHOT = REPO / "docs" / "viewer-list.png"
STUDY_SCREENSHOT = REPO / "docs" / "viewer-study.png"
WAIT_SECONDS = 90  # the most any page element may take to appear (a bound, not a pause)
ROWS = "tbody tr[aria-selected]"
THUMBNAILS = "[data-cy=study-browser-thumbnail] img"

ROWS_SCRIPT = """
const text = element => element.innerText.trim();
const headers = [...document.querySelectorAll('thead tr:first-child th')].map(text);
const rows = [...document.querySelectorAll(arguments[0])].map(row => [...row.querySelectorAll('td')].map(text));
return [headers, rows];
"""
RESOURCES = "return performance.getEntriesByType('resource').map(entry => entry.name)"
# Pixels of an element as the page drew them: (width, height, pixels that are the red of the tutorial's triangle,
# distinct colours). An <img> is drawn onto a canvas first; the viewport is cornerstone's 2D canvas.
PIXELS = """
const element = arguments[0];
let canvas = element;
if (element.tagName === 'IMG') {
  canvas = document.createElement('canvas');
  canvas.width = element.naturalWidth; canvas.height = element.naturalHeight;
  canvas.getContext('2d').drawImage(element, 0, 0);
}
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
const colours = new Set();
let red = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i] > 200 && data[i + 1] < 60 && data[i + 2] < 60) red++;
  if (colours.size < 64) colours.add(data[i] * 65536 + data[i + 1] * 256 + data[i + 2]);
}
return [canvas.width, canvas.height, red, colours.size];
"""


@pytest.fixture(scope="module")
def archive(azurite: Azurite) -> Archive:
    """Tables and a container of this module's own, so the study list holds only its studies."""
    return Archive(azurite)


@pytest.fixture(scope="module")
def host(azurite: Azurite, archive: Archive) -> Iterator[LocalHost]:
    service = LocalHost(azurite.connection_string, **archive.settings)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def stored(host: LocalHost) -> None:
    """The tutorial's three files, as its curl commands store them, and one study of another patient."""
    files = [path.read_bytes() for path in sorted(TUTORIAL.glob("*.dcm"))]
    files.append(make_instance(PatientName="Doe^John", PatientID="PAT-2", Modality="CT", rows=64, columns=64))
    with httpx.Client(timeout=60) as http:
        response = store(http, f"{host.url}/v2/studies", files)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    arguments = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                 "--enable-unsafe-swiftshader")  # fmt: skip  # WebGL in software, as headless has no GPU
    for argument in arguments:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to read Content-Security-Policy reports
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def wait(driver: webdriver.Chrome) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def rows_by_patient(driver: webdriver.Chrome) -> dict[str, dict[str, str]]:
    """The study list's rows, each as {column header: cell text}, by patient name, read in one script so that a
    re-rendered table cannot be read half old, half new. The instances column's header is an icon: its cells are
    under "Instances" (the first column without a title; the last one holds the row's actions)."""
    headers, rows = driver.execute_script(ROWS_SCRIPT, ROWS)
    if "" not in headers:
        return {}  # the table is not there yet
    headers[headers.index("")] = "Instances"
    return {row[0]: dict(zip(headers, row, strict=False)) for row in rows}


def rows_when(count: int) -> Callable[[webdriver.Chrome], dict[str, dict[str, str]] | None]:
    """A wait condition: the rows, once there are `count` of them."""

    def condition(driver: webdriver.Chrome) -> dict[str, dict[str, str]] | None:
        rows = rows_by_patient(driver)
        return rows if len(rows) == count else None

    return condition


def study_list(driver: webdriver.Chrome, url: str, patients: int) -> dict[str, dict[str, str]]:
    """The list at `url` once it shows `patients` rows; later pages skip OHIF's first-visit tour."""
    driver.get(url)
    driver.execute_script("localStorage.setItem('shownTours', JSON.stringify(['basicViewerTour']))")
    return wait(driver).until(rows_when(patients))


@pytest.fixture(scope="module")
def page(browser: webdriver.Chrome, stored: None) -> webdriver.Chrome:
    """The browser, once the studies are stored."""
    return browser


def test_the_host_serves_the_viewer_at_viewer_and_falls_back_to_its_page_for_any_path_under_it(host: LocalHost) -> None:
    index = (DIST / "index.html").read_text()
    with httpx.Client(timeout=60) as http:
        for path in ("/viewer", "/viewer/", f"/viewer/viewer?StudyInstanceUIDs={TUTORIAL_STUDY}", "/viewer/a/b"):
            response = http.get(host.url + path)
            assert response.status_code == 200 and response.text == index, path


def test_the_viewers_configuration_points_at_this_origins_api_with_the_recommended_data_source(host: LocalHost) -> None:
    with httpx.Client(timeout=60) as http:
        config = config_of(http.get(f"{host.url}/app-config.js").text)
    (source,) = config["dataSources"]
    settings = source["configuration"]
    assert config["routerBasename"] == "/viewer" and config["defaultDataSourceName"] == source["sourceName"]
    assert settings["qidoRoot"] == settings["wadoRoot"] == f"{host.url}/v2"
    assert settings["supportsFuzzyMatching"] is True and settings["supportsWildcard"] is False
    assert settings["thumbnailRendering"] == "thumbnail" and settings["thumbnailRequestStrategy"] == "fetch"
    assert "oidc" not in config, "make run's service has authentication off"


def config_of(app_config_js: str) -> dict:
    """`window.config = {...};` as a dict (the generated file's object is JSON)."""
    return json.loads(app_config_js[app_config_js.index("{") : app_config_js.rindex("}") + 1])


def test_with_data_partitions_on_the_local_viewer_browses_the_chosen_partition(azurite: Azurite) -> None:
    host = LocalHost(azurite.connection_string, DICOM_DATA_PARTITIONS_ENABLED="true", DICOM_VIEWER_PARTITION="site-a")
    try:
        with httpx.Client(timeout=60) as http:
            (source,) = config_of(http.get(f"{host.url}/app-config.js").text)["dataSources"]
    finally:
        host.stop()
    assert source["configuration"]["qidoRoot"] == f"{host.url}/v2/partitions/site-a"


def test_with_authentication_on_the_local_viewer_signs_in_with_the_given_app_registration(
    azurite: Azurite, jwks: Jwks
) -> None:
    """Entra ID's sign-in cannot run here: this checks the settings OHIF gets, not a sign-in."""
    host = LocalHost(azurite.connection_string, DICOM_VIEWER_CLIENT_ID="viewer-app", **secured(jwks))
    try:
        with httpx.Client(timeout=60) as http:
            (oidc,) = config_of(http.get(f"{host.url}/app-config.js").text)["oidc"]
    finally:
        host.stop()
    assert oidc["authority"] == f"https://login.microsoftonline.com/{TENANT}/v2.0" and oidc["client_id"] == "viewer-app"
    assert "api://viewer-app/.default" in oidc["scope"].split() and oidc["response_type"] == "code"
    assert oidc["silent_redirect_uri"] == f"{host.url}/silent-refresh.html", "the build's own page, at the root"


def test_the_study_list_shows_the_tutorial_studys_modality_and_its_3_instances(
    page: webdriver.Chrome, host: LocalHost
) -> None:
    row = study_list(page, f"{host.url}/viewer", patients=2)["Anony Mous"]
    assert (row["Study Date"], row["Modalities"], row["Instances"]) == ("22-Sep-2020", "OT", "3")


def test_typing_part_of_a_patient_name_filters_the_study_list_by_fuzzy_matching(
    page: webdriver.Chrome, host: LocalHost
) -> None:
    """OHIF also filters the rows it already has, so the search it sends is replayed here: the service's fuzzy
    matching, not only the page, finds the study."""
    study_list(page, f"{host.url}/viewer", patients=2)
    patient_filter = page.find_element(By.CSS_SELECTOR, "tr[data-filter-row] td:first-child input")
    patient_filter.send_keys("mou")  # the start of a later word of "Anony Mous"
    rows = wait(page).until(rows_when(1))
    assert list(rows) == ["Anony Mous"]
    sent = wait(page).until(lambda d: [u for u in d.execute_script(RESOURCES) if "PatientName=mou&" in u])
    assert "fuzzymatching=true" in sent[0] and "*" not in unquote(sent[0]), "a fuzzy search, not a wildcard one"
    with httpx.Client(timeout=60) as http:
        found = http.get(sent[0], headers={"Accept": "application/dicom+json"}).json()
    assert [study["0020000D"]["Value"] for study in found] == [[TUTORIAL_STUDY]]


@pytest.fixture(scope="module")
def viewer(page: webdriver.Chrome, host: LocalHost) -> webdriver.Chrome:
    """The tutorial study opened from the list as a user does: its row, then the "Basic Viewer" workflow. The
    list, with the study's preview (the service's series thumbnails), is saved as docs/viewer-list.png."""
    study_list(page, f"{host.url}/viewer", patients=2)
    row = next(r for r in page.find_elements(By.CSS_SELECTOR, ROWS) if r.text.startswith("Anony Mous"))
    row.click()
    wait(page).until(lambda d: len(loaded_thumbnails(d)) == 2)
    page.save_screenshot(str(LIST_SCREENSHOT))
    launch = wait(page).until(lambda d: [b for b in d.find_elements(By.TAG_NAME, "button") if b.text == "Basic Viewer"])
    launch[0].click()
    wait(page).until(lambda d: "/viewer/viewer" in d.current_url and drawn(d)[2] > 0)
    wait(page).until(lambda d: len(loaded_thumbnails(d)) == 2)
    page.save_screenshot(str(STUDY_SCREENSHOT))
    return page


def drawn(driver: webdriver.Chrome) -> list[int]:
    canvases = driver.find_elements(By.CSS_SELECTOR, ".cornerstone-canvas")
    return driver.execute_script(PIXELS, canvases[0]) if canvases else [0, 0, 0, 0]


def loaded_thumbnails(driver: webdriver.Chrome) -> list[WebElement]:
    images = driver.find_elements(By.CSS_SELECTOR, THUMBNAILS)
    return [i for i in images if driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i)]


def test_the_viewer_opens_the_study_and_draws_its_first_image(viewer: webdriver.Chrome) -> None:
    assert TUTORIAL_STUDY in viewer.current_url
    width, height, red, colours = drawn(viewer)
    assert red > width * height // 20, "the red triangle (red-triangle.dcm, the first instance) is on the canvas"
    assert colours > 2


def test_the_viewer_shows_each_series_thumbnail_rendered_by_the_services_thumbnail_endpoint(
    viewer: webdriver.Chrome,
) -> None:
    thumbnails = loaded_thumbnails(viewer)
    assert len(thumbnails) == 2, "the tutorial study has 2 series"
    for image in thumbnails:
        width, height, _, colours = viewer.execute_script(PIXELS, image)
        assert width > 32 and height > 32 and colours > 2, "a decoded picture, not a blank or a placeholder"
    fetched = viewer.execute_script(RESOURCES)
    assert len({url for url in fetched if url.split("?")[0].endswith("/thumbnail")}) >= 2


# The build staged for Azure (python -m local.viewer stage, as azd's predeploy hook runs it), served on another
# origin by the rules of its staticwebapp.config.json, as Azure Static Web Apps serves it: the one part of Azure
# this test stands in for. Entra's sign-in cannot run here, so the staged configuration has no `oidc`.
def static_web_app(site: Path) -> Starlette:
    """The site's files; any other path answers index.html (navigationFallback) unless excluded; every response
    carries the globalHeaders (the Content-Security-Policy among them); mimeTypes override the guessed types."""
    rules = json.loads((site / "staticwebapp.config.json").read_text())
    fallback = rules["navigationFallback"]
    excluded = [pattern for glob in fallback["exclude"] for pattern in braces(glob)]

    async def serve(request: Request) -> Response:
        path = request.url.path
        file = site / (path.lstrip("/") or "index.html")
        if file.is_file():
            response: Response = FileResponse(file, media_type=rules["mimeTypes"].get(file.suffix))
        elif any(fnmatch.fnmatch(path, pattern) for pattern in excluded):
            response = Response("not found", status_code=404)
        else:
            response = FileResponse(site / fallback["rewrite"].lstrip("/"))
        response.headers.update(rules["globalHeaders"])
        return response

    return Starlette(routes=[Route("/{path:path}", serve)])


def braces(glob: str) -> list[str]:
    """`/*.{js,css}` -> `/*.js`, `/*.css` (Static Web Apps' exclude patterns)."""
    match = re.search(r"\{([^}]*)\}", glob)
    return [glob[: match.start()] + choice + glob[match.end() :] for choice in match[1].split(",")] if match else [glob]


@pytest.fixture(scope="module")
def azure_site(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, archive: Archive) -> Iterator[str]:
    """The staged site on its own origin, and an API host that allows that origin (CORS), on the same archive."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    api = LocalHost(azurite.connection_string, DICOM_CORS_ORIGINS=origin, **archive.settings)
    site = tmp_path_factory.mktemp("azure") / "site"
    staged = subprocess.run([sys.executable, "-m", "local.viewer", "stage", str(site), "--api-root", f"{api.url}/v2"],
                            cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert staged.returncode == 0, staged.stderr
    server = uvicorn.Server(uvicorn.Config(static_web_app(site), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    yield origin
    server.should_exit = True
    thread.join(timeout=20)
    api.stop()


def test_the_build_staged_for_azure_browses_the_archive_from_its_own_origin_under_its_csp(
    page: webdriver.Chrome, azure_site: str
) -> None:
    page.get_log("browser")  # what earlier pages logged is not this test's
    row = study_list(page, azure_site, patients=2)["Anony Mous"]
    assert (row["Modalities"], row["Instances"]) == ("OT", "3")
    page.get(f"{azure_site}/viewer?StudyInstanceUIDs={TUTORIAL_STUDY}")  # a deep link: the fallback's index.html
    wait(page).until(lambda d: drawn(d)[2] > 0 and len(loaded_thumbnails(d)) == 2)
    refused = [e["message"] for e in page.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not refused


def test_the_build_staged_by_azds_hook_signs_in_with_entra_id_and_calls_the_function_app(tmp_path: Path) -> None:
    """As azure.yaml's predeploy hook runs it: the settings come from the azd environment (Bicep outputs)."""
    outputs = {"DICOMWEB_URL": "https://dicom-api-x.azurewebsites.net/v2", "AZURE_TENANT_ID": "tenant-id",
               "DICOM_VIEWER_CLIENT_ID": "client-id", "DICOM_VIEWER_SCOPE": "api://client-id/.default"}  # fmt: skip
    site = tmp_path / "azure-site"
    staged = subprocess.run([sys.executable, "-m", "local.viewer", "stage", str(site)], cwd=REPO,
                            env={**os.environ, **outputs}, capture_output=True, text=True)  # fmt: skip
    assert staged.returncode == 0, staged.stderr
    config = config_of((site / "app-config.js").read_text())
    ((oidc,), (source,)) = config["oidc"], config["dataSources"]
    assert oidc["authority"] == "https://login.microsoftonline.com/tenant-id/v2.0" and oidc["client_id"] == "client-id"
    assert oidc["response_type"] == "code", "authorization code with PKCE: a single-page app has no secret"
    assert "api://client-id/.default" in oidc["scope"].split() and oidc["redirect_uri"] == "/callback"
    assert source["configuration"]["qidoRoot"] == source["configuration"]["wadoRoot"] == outputs["DICOMWEB_URL"]
    assert config["routerBasename"] == "/"
    rules = json.loads((site / "staticwebapp.config.json").read_text())
    assert rules["navigationFallback"]["rewrite"] == "/index.html"
    policy = rules["globalHeaders"]["Content-Security-Policy"]
    assert "https://dicom-api-x.azurewebsites.net" in policy and "https://login.microsoftonline.com" in policy
    assert (site / "index.html").read_bytes() == (DIST / "index.html").read_bytes(), "the build as published"


def test_staged_in_place_the_build_gets_its_azure_settings_and_loses_the_other_hosts_files(tmp_path: Path) -> None:
    """azure.yaml's hook stages the installed dist/ itself (the folder azd deploys); here a stand-in folder."""
    dist = tmp_path / "dist"
    dist.mkdir()
    for name, text in {"index.html": "<html>", "_redirects": "/* /index.html 200", "app-config.js": "demo"}.items():
        (dist / name).write_text(text)
    stage(dist, "https://api.example/v2", None, dist=dist)
    assert sorted(p.name for p in dist.iterdir()) == ["app-config.js", "index.html", "staticwebapp.config.json"]
    assert config_of((dist / "app-config.js").read_text())["dataSources"][0]["configuration"]["qidoRoot"] == (
        "https://api.example/v2"
    )
