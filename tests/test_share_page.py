"""The recipient's page in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by
Selenium opens a share link with no token, is refused with a wrong password, gets in with the right one, sees every
series thumbnail decoded, steps through a series, downloads the study's ZIP (the test compares its files with those
stored), and meets the expiry page on an expired link. It saves docs/share-page.png.

The real local host over HTTP on Azurite with authentication on: the owner's token is signed by the loopback
stand-in for Entra ID (the one thing faked); the browser carries none.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import REPO, LocalHost
from tests.dicom_factory import TUTORIAL
from tests.entra import SigningKey
from tests.helpers import store
from tests.test_shares_common import Study, create_share, expire, module_fixtures, owner

PASSWORD = "x-ray vision 42"
SCREENSHOT = REPO / "docs" / "share-page.png"
SERIES = {"CT": "Chest, axial", "MR": "Brain, axial", "Shapes": "Shapes to step through"}
WAIT_SECONDS = 60  # the most any page element may take to appear (a bound, not a pause)

archive, host = module_fixtures("share-page")


def _file(dataset: pydicom.Dataset, study: str, series: str, number: int, kind: str) -> tuple[str, bytes]:
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.PatientName, dataset.PatientID, dataset.StudyDate = "Garcia^Maria", "PAT-0314", "20260314"
    dataset.StudyDescription, dataset.PatientBirthDate = "Second opinion", "19700101"
    dataset.InstanceNumber, dataset.SeriesNumber = number, list(SERIES).index(kind) + 1
    dataset.SeriesDescription = SERIES[kind]
    output = io.BytesIO()
    dataset.save_as(output, enforce_file_format=True)
    return dataset.SOPInstanceUID, output.getvalue()


@pytest.fixture(scope="module")
def study(host: LocalHost, signing_key: SigningKey) -> Study:
    """Three series: the tutorial's three shapes as one series to step through, a CT slice and an MR slice."""
    shared = Study(generate_uid())
    sources = [(TUTORIAL / f"{name}.dcm", "Shapes") for name in ("red-triangle", "green-square", "blue-circle")]
    sources += [(Path(get_testdata_file("CT_small.dcm")), "CT"), (Path(get_testdata_file("MR_small.dcm")), "MR")]
    series = {"Shapes": generate_uid(), "CT": generate_uid(), "MR": generate_uid()}
    for number, (path, kind) in enumerate(sources, start=1):
        sop, data = _file(pydicom.dcmread(path), shared.study, series[kind], number, kind)
        shared.files[series[kind], sop] = data
    with httpx.Client(timeout=60) as http:
        response = store(http, f"{host.url}/v2/studies", list(shared.files.values()), **owner(signing_key))
        assert response.status_code == 200, response.text
    return shared


@pytest.fixture(scope="module")
def share(host: LocalHost, signing_key: SigningKey, study: Study) -> dict:
    with httpx.Client(timeout=60) as http:
        return create_share(http, f"{host.url}/v2", owner(signing_key), studies=[study.study], password=PASSWORD,
                            downloadable=True, title="Second opinion for Dr. Lee",
                            description="Chest CT and brain MR, March 2026. Questions: +1 555 0100.")  # fmt: skip


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})  # fmt: skip
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


def wait(driver: webdriver.Chrome) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def enter_password(driver: webdriver.Chrome, password: str) -> None:
    field = wait(driver).until(lambda d: d.find_element(By.ID, "password"))
    field.send_keys(password)
    driver.find_element(By.ID, "open").click()
    wait(driver).until(expected_conditions.staleness_of(field))  # the answer's page has replaced the form


@pytest.fixture(scope="module")
def opened(browser: webdriver.Chrome, share: dict) -> webdriver.Chrome:
    """The browser on the page, past the password, with the studies shown."""
    browser.get(share["url"])
    enter_password(browser, PASSWORD)
    wait(browser).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true")
    return browser


def decoded(driver: webdriver.Chrome, selector: str) -> list[int]:
    """naturalWidth of each image the selector finds, once every one has finished loading."""
    script = f"return [...document.querySelectorAll({selector!r})].map(i => i.complete ? i.naturalWidth : -1)"
    wait(driver).until(lambda d: all(width >= 0 for width in d.execute_script(script)))
    return driver.execute_script(script)


def test_a_wrong_password_is_refused_and_the_form_shown_again(browser: webdriver.Chrome, share: dict) -> None:
    browser.get(share["url"])
    enter_password(browser, "not the password")
    error = wait(browser).until(lambda d: d.find_element(By.ID, "error"))
    assert error.text == "Wrong password."
    assert browser.find_elements(By.ID, "studies") == []


def test_the_right_password_shows_the_title_description_and_each_study(opened: webdriver.Chrome, share: dict) -> None:
    assert opened.find_element(By.ID, "title").text == "Second opinion for Dr. Lee"
    assert opened.find_element(By.ID, "description").text.startswith("Chest CT and brain MR")
    (card,) = opened.find_elements(By.CSS_SELECTOR, ".study")
    assert card.find_element(By.CSS_SELECTOR, ".patient").text == "Garcia Maria"
    facts = card.find_element(By.CSS_SELECTOR, ".facts").text
    assert "2026-03-14" in facts and "Second opinion" in facts and "CT" in facts and "MR" in facts


def test_every_series_thumbnail_is_decoded(opened: webdriver.Chrome) -> None:
    widths = decoded(opened, ".series img")
    assert len(widths) == 3 and all(width > 0 for width in widths)
    opened.save_screenshot(str(SCREENSHOT))


def test_the_viewer_steps_through_a_series_by_arrow_keys_wheel_and_slider(opened: webdriver.Chrome) -> None:
    shapes = [b for b in opened.find_elements(By.CSS_SELECTOR, ".series") if "Shapes" in b.text]
    shapes[0].click()
    viewer = opened.find_element(By.ID, "viewer")
    seen = []
    for step in ("open", "arrow", "wheel", "slider"):
        if step == "arrow":
            opened.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        elif step == "wheel":
            opened.execute_script("arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: 100}))", viewer)
            opened.execute_script("arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -100}))", viewer)
            opened.execute_script("arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: 100}))", viewer)
        elif step == "slider":
            opened.execute_script("const s = arguments[0]; s.value = '1'; s.dispatchEvent(new Event('input'))",
                                  opened.find_element(By.ID, "viewer-slider"))  # fmt: skip
        (width,) = decoded(opened, "#viewer-image")
        seen.append((viewer.get_attribute("data-position"), width > 0, opened.find_element(By.ID, "viewer-image")
                     .get_attribute("src").rsplit("/instances/", 1)[1]))  # fmt: skip
    assert [(position, shown) for position, shown, _ in seen] == [("1", True), ("2", True), ("3", True), ("1", True)]
    assert len({source for _, _, source in seen}) == 3  # three different images
    opened.find_element(By.ID, "viewer-close").click()


def test_the_download_button_gives_a_zip_of_the_studys_files_as_stored(
    opened: webdriver.Chrome, downloads: Path, study: Study
) -> None:
    opened.find_element(By.CSS_SELECTOR, ".download").click()
    target = downloads / "study.zip"
    wait(opened).until(lambda _: target.exists() and not list(downloads.glob("*.crdownload")))
    with zipfile.ZipFile(target) as archive:
        found = {tuple(name.removesuffix(".dcm").split("/")): archive.read(name) for name in archive.namelist()}
    # As stored: the store keeps every byte but the 128-byte preamble, which it zeroes (dicom.parsing).
    assert found == {key: bytes(128) + data[128:] for key, data in study.files.items()}


def test_the_page_fits_a_phone_screen_without_sideways_scrolling(opened: webdriver.Chrome) -> None:
    opened.set_window_size(390, 844)
    try:
        overflow = opened.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
    finally:
        opened.set_window_size(1280, 900)


def test_an_expired_link_shows_the_expiry_page(
    browser: webdriver.Chrome, host: LocalHost, signing_key: SigningKey, study: Study, azurite: Azurite,
    archive: Archive,
) -> None:  # fmt: skip
    with httpx.Client(timeout=60) as http:
        expiring = create_share(http, f"{host.url}/v2", owner(signing_key), studies=[study.study])
    expire(azurite, archive, expiring["id"])
    browser.get(expiring["url"])
    title = wait(browser).until(lambda d: d.find_element(By.ID, "message-title"))
    assert title.text == "Link expired" and "expired" in browser.find_element(By.ID, "message").text
