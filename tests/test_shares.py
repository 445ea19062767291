"""Share links: a link reaches exactly the studies it covers, only with its password, only until it expires or is
revoked, downloads only when allowed, and every opening and download is audited.

The real local host over HTTP on Azurite with authentication on (owners create shares with tokens signed by the
loopback stand-in for Entra ID, the one thing faked); recipients use no token at all.
"""

from __future__ import annotations

import base64
import io
import zipfile

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import REPO, LocalHost
from tests.entra import SigningKey
from tests.test_shares_common import (
    Study,
    audit_events,
    create_share,
    expire,
    module_fixtures,
    owner,
    reader,
    share_rows,
    store_study,
)

PASSWORD = "correct horse battery"

archive, host = module_fixtures("shares")


@pytest.fixture(scope="module")
def url(host: LocalHost) -> str:
    return f"{host.url}/v2"


@pytest.fixture(scope="module")
def studies(url: str, signing_key: SigningKey) -> tuple[Study, Study]:
    """The shared study and another one of the same archive that no share covers."""
    with httpx.Client(timeout=60) as http:
        return store_study(http, url, owner(signing_key)), store_study(http, url, owner(signing_key))


@pytest.fixture(scope="module")
def view_only(url: str, signing_key: SigningKey, studies: tuple[Study, Study]) -> dict:
    with httpx.Client(timeout=60) as http:
        return create_share(http, url, owner(signing_key), studies=[studies[0].study], title="For Dr. Who")


@pytest.fixture(scope="module")
def protected(url: str, signing_key: SigningKey, studies: tuple[Study, Study]) -> dict:
    with httpx.Client(timeout=60) as http:
        return create_share(http, url, owner(signing_key), studies=[studies[0].study], password=PASSWORD,
                            downloadable=True)  # fmt: skip


def admitted(client: httpx.Client, share: dict, password: str = PASSWORD) -> httpx.Response:
    return client.post(share["url"], data={"password": password}, follow_redirects=False)


def instance_path(study: str, series: str, sop: str) -> str:
    return f"/studies/{study}/series/{series}/instances/{sop}"


# ---- creating, listing, revoking --------------------------------------------------------------------------------


def test_the_link_carries_at_least_128_random_bits_and_the_service_keeps_only_their_hash(
    view_only: dict, azurite: Azurite, archive: Archive
) -> None:
    secret = view_only["url"].rsplit("/", 1)[1].split(".", 1)[1]
    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) * 8 >= 128
    stored = " ".join(str(value) for row in share_rows(azurite, archive) for value in row.values())
    assert secret not in stored


def test_a_password_is_kept_only_as_an_scrypt_hash(protected: dict, azurite: Azurite, archive: Archive) -> None:
    (row,) = [row for row in share_rows(azurite, archive) if row["RowKey"] == protected["id"]]
    assert row["PasswordHash"].startswith("scrypt$") and PASSWORD not in row["PasswordHash"]


def test_a_study_share_without_an_expiry_date_is_refused_with_400(
    client: httpx.Client, url: str, signing_key: SigningKey, studies: tuple[Study, Study]
) -> None:
    response = client.post(f"{url}/shares", json={"studies": [studies[0].study]}, headers=owner(signing_key))
    assert response.status_code == 400 and "expires" in response.json()["detail"]


def test_an_expiry_beyond_the_configured_maximum_is_refused_with_400(
    client: httpx.Client, url: str, signing_key: SigningKey, studies: tuple[Study, Study]
) -> None:
    body = {"studies": [studies[0].study], "expires": "2099-01-01"}
    response = client.post(f"{url}/shares", json=body, headers=owner(signing_key))
    assert response.status_code == 400 and "DICOM_SHARE_MAX_DAYS" in response.json()["detail"]


def test_sharing_a_study_that_is_not_stored_is_404_and_creates_nothing(
    client: httpx.Client, url: str, signing_key: SigningKey, azurite: Azurite, archive: Archive
) -> None:
    before = len(share_rows(azurite, archive))
    body = {"studies": [generate_uid()], "expires": "2030-01-01"}
    assert client.post(f"{url}/shares", json=body, headers=owner(signing_key)).status_code in (400, 404)
    assert len(share_rows(azurite, archive)) == before


def test_readers_may_not_create_or_list_shares(client: httpx.Client, url: str, signing_key: SigningKey,
                                               studies: tuple[Study, Study]) -> None:  # fmt: skip
    body = {"studies": [studies[0].study], "expires": "2030-01-01"}
    assert client.post(f"{url}/shares", json=body, headers=reader(signing_key)).status_code == 403
    assert client.get(f"{url}/shares", headers=reader(signing_key)).status_code == 403
    assert client.get(f"{url}/shares").status_code == 401


def test_listing_shows_each_share_without_its_link_or_password(
    client: httpx.Client, url: str, signing_key: SigningKey, protected: dict
) -> None:
    listed = client.get(f"{url}/shares", headers=owner(signing_key)).json()
    (mine,) = [share for share in listed if share["id"] == protected["id"]]
    assert mine["password"] is True and "url" not in mine and PASSWORD not in str(listed)


def test_a_revoked_link_answers_a_404_page_and_no_data(
    client: httpx.Client, url: str, signing_key: SigningKey, studies: tuple[Study, Study]
) -> None:
    share = create_share(client, url, owner(signing_key), studies=[studies[0].study])
    assert client.delete(f"{url}/shares/{share['id']}", headers=owner(signing_key)).status_code == 204
    page = client.get(share["url"])
    assert page.status_code == 404 and "text/html" in page.headers["content-type"] and "revoked" in page.text
    assert client.get(share["url"] + "/studies").status_code == 404


def test_an_expired_link_answers_a_410_page_and_no_data(
    client: httpx.Client, url: str, signing_key: SigningKey, studies: tuple[Study, Study], azurite: Azurite,
    archive: Archive,
) -> None:  # fmt: skip
    share = create_share(client, url, owner(signing_key), studies=[studies[0].study])
    expire(azurite, archive, share["id"])
    page = client.get(share["url"])
    assert page.status_code == 410 and "expired" in page.text
    series, sop = studies[0].first()
    assert client.get(share["url"] + instance_path(studies[0].study, series, sop) + "/rendered").status_code == 410


def test_a_link_with_a_changed_secret_opens_nothing(client: httpx.Client, view_only: dict) -> None:
    link = view_only["url"]
    forged = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    assert client.get(forged).status_code == 404
    assert client.get(forged + "/studies").status_code == 404


# ---- what a link reaches ------------------------------------------------------------------------------------------


def test_a_link_shows_its_studys_rendered_images_and_thumbnails_without_a_token(
    client: httpx.Client, view_only: dict, studies: tuple[Study, Study]
) -> None:
    shared = studies[0]
    series, sop = shared.first()
    base = view_only["url"] + instance_path(shared.study, series, sop)
    assert client.get(view_only["url"]).status_code == 200
    assert client.get(base + "/rendered").headers["content-type"] == "image/jpeg"
    assert client.get(f"{view_only['url']}/studies/{shared.study}/series/{series}/thumbnail").status_code == 200
    listed = client.get(view_only["url"] + "/studies").json()["studies"]
    assert [study["study"] for study in listed] == [shared.study]


WHAT = {
    "instance": ("", {"Accept": "application/dicom; transfer-syntax=*"}),
    "frames": ("/frames/1", {"Accept": "application/octet-stream; transfer-syntax=*"}),
    "metadata": ("/metadata", {"Accept": "application/dicom+json"}),
    "rendered": ("/rendered", {}),
    "rendered frame": ("/frames/1/rendered", {}),
    "thumbnail": ("/thumbnail", {}),
}


@pytest.mark.parametrize("what", WHAT)
@pytest.mark.parametrize("changed", ["every UID", "series and instance", "instance"])
def test_a_valid_link_never_reaches_another_studys_data_by_changing_uids(
    client: httpx.Client, protected: dict, studies: tuple[Study, Study], what: str, changed: str
) -> None:
    """The downloadable, password-opened share: the most it can reach is its own study's files."""
    shared, other = studies
    (series, sop), (other_series, other_sop) = shared.first(), other.first()
    uids = {
        "every UID": (other.study, other_series, other_sop),
        "series and instance": (shared.study, other_series, other_sop),
        "instance": (shared.study, series, other_sop),
    }[changed]
    suffix, headers = WHAT[what]
    with httpx.Client(timeout=60) as recipient:
        assert admitted(recipient, protected).status_code == 303
        own = recipient.get(protected["url"] + instance_path(shared.study, series, sop) + suffix, headers=headers)
        assert own.status_code == 200
        response = recipient.get(protected["url"] + instance_path(*uids) + suffix, headers=headers)
    assert response.status_code == 404
    assert other_sop.encode() not in response.content


def test_a_link_never_lists_or_zips_another_study(client: httpx.Client, protected: dict,
                                                 studies: tuple[Study, Study]) -> None:  # fmt: skip
    with httpx.Client(timeout=60) as recipient:
        admitted(recipient, protected)
        assert recipient.get(f"{protected['url']}/studies/{studies[1].study}/zip").status_code == 404
        assert recipient.get(f"{protected['url']}/studies/{studies[1].study}/metadata").status_code == 404


def test_a_link_works_only_under_its_own_path(client: httpx.Client, url: str, view_only: dict) -> None:
    """The token of one service's share is not a token of another partition or of the DICOMweb API."""
    token = view_only["url"].rsplit("/", 1)[1]
    assert client.get(f"{url}/studies", headers={"Authorization": f"Bearer {token}"}).status_code == 401


# ---- downloads -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["zip", "instance", "series", "study", "metadata", "frames"])
def test_files_headers_and_raw_frames_answer_403_when_the_share_does_not_allow_downloads(
    client: httpx.Client, view_only: dict, protected: dict, studies: tuple[Study, Study], what: str
) -> None:
    shared = studies[0]
    series, sop = shared.first()
    instance = instance_path(shared.study, series, sop)
    path, accept = {
        "zip": (f"/studies/{shared.study}/zip", "*/*"),
        "instance": (instance, "application/dicom; transfer-syntax=*"),
        "series": (f"/studies/{shared.study}/series/{series}", 'multipart/related; type="application/dicom"'),
        "study": (f"/studies/{shared.study}", 'multipart/related; type="application/dicom"'),
        "metadata": (instance + "/metadata", "application/dicom+json"),
        "frames": (instance + "/frames/1", "application/octet-stream; transfer-syntax=*"),
    }[what]
    assert client.get(view_only["url"] + path, headers={"Accept": accept}).status_code == 403
    with httpx.Client(timeout=60) as recipient:
        admitted(recipient, protected)
        assert recipient.get(protected["url"] + path, headers={"Accept": accept}).status_code == 200


def test_the_zip_holds_every_file_of_the_study_byte_identical_to_what_was_stored(
    protected: dict, studies: tuple[Study, Study]
) -> None:
    shared = studies[0]
    with httpx.Client(timeout=60) as recipient:
        admitted(recipient, protected)
        response = recipient.get(f"{protected['url']}/studies/{shared.study}/zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        found = {tuple(name.removesuffix(".dcm").split("/")): archive.read(name) for name in archive.namelist()}
    assert found == shared.files


# ---- passwords and the cookie ----------------------------------------------------------------------------------


def test_without_the_password_a_link_shows_the_password_form_and_no_data(
    client: httpx.Client, protected: dict, studies: tuple[Study, Study]
) -> None:
    page = client.get(protected["url"])
    assert page.status_code == 401 and 'type="password"' in page.text
    assert client.get(protected["url"] + "/studies").status_code == 401
    series, sop = studies[0].first()
    assert client.get(protected["url"] + instance_path(studies[0].study, series, sop) + "/rendered").status_code == 401


def test_a_wrong_password_is_refused_with_401(protected: dict) -> None:
    with httpx.Client(timeout=60) as recipient:
        assert admitted(recipient, protected, "wrong").status_code == 401
        assert recipient.get(protected["url"] + "/studies").status_code == 401


def test_the_right_password_gives_a_short_lived_httponly_samesite_cookie_for_this_link_only(protected: dict) -> None:
    with httpx.Client(timeout=60) as recipient:
        answer = admitted(recipient, protected)
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
        assert 0 < max_age <= 30 * 60
        assert f"Path=/v2/share/{protected['url'].rsplit('/', 1)[1]}" in cookie
        assert recipient.get(protected["url"] + "/studies").status_code == 200


def test_a_cookie_earned_on_one_share_does_not_open_another_with_the_same_password(
    client: httpx.Client, url: str, signing_key: SigningKey, protected: dict, studies: tuple[Study, Study]
) -> None:
    other = create_share(client, url, owner(signing_key), studies=[studies[0].study], password=PASSWORD)
    with httpx.Client(timeout=60) as recipient:
        cookie = admitted(recipient, protected).headers["set-cookie"].split(";")[0]
        value = cookie.split("=", 1)[1]
        stolen = {"Cookie": f"share_{other['id']}={value}"}
        assert recipient.get(other["url"] + "/studies", headers=stolen).status_code == 401


def test_wrong_passwords_are_throttled_per_share_even_against_the_right_one(
    client: httpx.Client, url: str, signing_key: SigningKey, protected: dict, studies: tuple[Study, Study]
) -> None:
    target = create_share(client, url, owner(signing_key), studies=[studies[0].study], password=PASSWORD)
    with httpx.Client(timeout=60) as attacker:
        refusals = [admitted(attacker, target, f"guess {n}").status_code for n in range(5)]
        locked = admitted(attacker, target)
    assert refusals == [401] * 5
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    with httpx.Client(timeout=60) as someone_else:
        assert admitted(someone_else, protected).status_code == 303  # other shares are not locked


# ---- audit -------------------------------------------------------------------------------------------------------


def test_openings_and_downloads_are_audited_with_the_share_id_and_never_the_password(
    host: LocalHost, protected: dict, studies: tuple[Study, Study]
) -> None:
    with httpx.Client(timeout=60) as recipient:
        admitted(recipient, protected)
        assert recipient.get(protected["url"]).status_code == 200
        assert recipient.get(f"{protected['url']}/studies/{studies[0].study}/zip").status_code == 200
    opened = [e for e in audit_events(host, "share_opened") if e["share_id"] == protected["id"]]
    downloads = [e for e in audit_events(host, "share_download") if e["share_id"] == protected["id"]]
    assert opened and downloads and downloads[-1]["study_uid"] == studies[0].study
    secret = protected["url"].rsplit(".", 1)[1]
    trail = host.audit_log.read_text()  # type: ignore[attr-defined]
    assert PASSWORD not in trail and secret not in trail


def test_only_the_recipients_routes_and_the_health_probe_are_open_without_a_token() -> None:
    """The app has no platform authentication (the Bicep leaves it anonymous; tokens are checked in code), so the
    share page is reachable while every other operation still declares the access its token needs."""
    public = sorted(str(path.relative_to(REPO)) for path in (REPO / "api").rglob("*.py")
                    if "@requires(Access.PUBLIC)" in path.read_text())  # fmt: skip
    assert public == ["api/operations/health.py", "api/shares/recipient.py"]
