"""The OHIF viewer served by the local host at /viewer, in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by Selenium, on the real local host over HTTP on Azurite, as `make run` serves it
(authentication off). The archive holds the README's tutorial study and another patient's study.

The browser opens the study list, reads the tutorial study's row (modality, 3 instances), filters by part of the
patient's name, opens the study in OHIF's basic viewer as a user does (row, then "Basic Viewer"), and reads the
pixels of the viewport and of the series thumbnails. It saves docs/viewer-list.png and docs/viewer-study.png.
Nothing is faked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from local.azurite import Azurite
from local.viewer import DIST
from tests.archive import Archive
from tests.conftest import REPO, LocalHost
from tests.dicom_factory import TUTORIAL, make_instance
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
def host(azurite: Azurite) -> Iterator[LocalHost]:
    """The local host on tables and a container of its own, so the study list holds only this module's studies."""
    service = LocalHost(azurite.connection_string, **Archive(azurite).settings)
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


def study_list(driver: webdriver.Chrome, host: LocalHost, patients: int) -> dict[str, dict[str, str]]:
    """The list at /viewer once it shows `patients` rows; later pages skip OHIF's first-visit tour."""
    driver.get(f"{host.url}/viewer")
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
        text = http.get(f"{host.url}/app-config.js").text
    config = json.loads(text[text.index("{") : text.rindex("}") + 1])
    (source,) = config["dataSources"]
    settings = source["configuration"]
    assert config["routerBasename"] == "/viewer" and config["defaultDataSourceName"] == source["sourceName"]
    assert settings["qidoRoot"] == settings["wadoRoot"] == f"{host.url}/v2"
    assert settings["supportsFuzzyMatching"] is True and settings["supportsWildcard"] is False
    assert settings["thumbnailRendering"] == "thumbnail" and settings["thumbnailRequestStrategy"] == "fetch"
    assert "oidc" not in config, "make run's service has authentication off"


def test_the_study_list_shows_the_tutorial_studys_modality_and_its_3_instances(
    page: webdriver.Chrome, host: LocalHost
) -> None:
    row = study_list(page, host, patients=2)["Anony Mous"]
    assert (row["Study Date"], row["Modalities"], row["Instances"]) == ("22-Sep-2020", "OT", "3")


def test_typing_part_of_a_patient_name_filters_the_study_list_by_fuzzy_matching(
    page: webdriver.Chrome, host: LocalHost
) -> None:
    study_list(page, host, patients=2)
    patient_filter = page.find_element(By.CSS_SELECTOR, "tr[data-filter-row] td:first-child input")
    patient_filter.send_keys("mou")  # the start of a later word of "Anony Mous"
    rows = wait(page).until(rows_when(1))
    assert list(rows) == ["Anony Mous"]


@pytest.fixture(scope="module")
def viewer(page: webdriver.Chrome, host: LocalHost) -> webdriver.Chrome:
    """The tutorial study opened from the list as a user does: its row, then the "Basic Viewer" workflow. The
    list, with the study's preview (the service's series thumbnails), is saved as docs/viewer-list.png."""
    study_list(page, host, patients=2)
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
    fetched = viewer.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert len({url for url in fetched if url.split("?")[0].endswith("/thumbnail")}) >= 2
