"""UPS-RS workitems through real HTTP on Azurite: create, retrieve, update, change state, request cancellation
and the owner-only delete, with the status codes the Azure DICOM service documents."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from pydicom.uid import generate_uid

DICOM_JSON = "application/dicom+json"
HEADERS = {"Content-Type": DICOM_JSON, "Accept": DICOM_JSON}


def element(vr: str, *values: object) -> dict:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def code(value: str, scheme: str = "99LOCAL", meaning: str = "") -> dict:
    return {
        "00080100": element("SH", value),
        "00080102": element("SH", scheme),
        "00080104": element("LO", meaning or value),
    }


def workitem_json(
    patient_id: str = "PAT-1", name: str = "Doe^John", start: str = "20300101090000", **extra: dict
) -> dict:
    """A SCHEDULED workitem meeting PS3.4 Table CC.2.5-3's creation requirements."""
    dataset = {
        "00741000": element("CS", "SCHEDULED"),
        "00741200": element("CS", "MEDIUM"),
        "00741204": element("LO", "CT head"),
        "00404005": element("DT", start),
        "00404041": element("CS", "READY"),
        "00100010": element("PN", {"Alphabetic": name}),
        "00100020": element("LO", patient_id),
        "00100030": element("DA", "19700101"),
        "00100040": element("CS", "M"),
        "0040A370": element("SQ", {"00080050": element("SH", "ACC-" + patient_id), "00401001": element("SH", "RP1")}),
        "00404026": element("SQ", code("CT", "DCM")),
    }
    dataset.update(extra)
    return dataset


def create(client: httpx.Client, base_url: str, dataset: dict, uid: str | None = None) -> httpx.Response:
    uid = uid or generate_uid()
    return client.post(f"{base_url}/workitems?{uid}", content=json.dumps(dataset), headers=HEADERS)


def created(client: httpx.Client, base_url: str, **fields: object) -> str:
    uid = generate_uid()
    response = create(client, base_url, workitem_json(**fields), uid)  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    return uid


def retrieve(client: httpx.Client, base_url: str, uid: str) -> dict:
    response = client.get(f"{base_url}/workitems/{uid}", headers={"Accept": DICOM_JSON})
    assert response.status_code == 200, response.text
    return response.json()


def change_state(client: httpx.Client, base_url: str, uid: str, state: str, transaction: str | None) -> httpx.Response:
    body = {"00741000": element("CS", state)}
    if transaction:
        body["00081195"] = element("UI", transaction)
    return client.put(f"{base_url}/workitems/{uid}/state", content=json.dumps(body), headers=HEADERS)


def update(
    client: httpx.Client, base_url: str, uid: str, changes: dict, transaction: str | None = None
) -> httpx.Response:
    query = f"?{transaction}" if transaction else ""
    return client.post(f"{base_url}/workitems/{uid}{query}", content=json.dumps(changes), headers=HEADERS)


def cancel_request(client: httpx.Client, base_url: str, uid: str) -> httpx.Response:
    return client.post(f"{base_url}/workitems/{uid}/cancelrequest", content=b"{}", headers=HEADERS)


PERFORMED = {
    "00741216": element(
        "SQ", {"00404050": element("DT", "20300101090000"), "00404051": element("DT", "20300101093000"),
               "00404033": element("SQ")},
    )
}  # fmt: skip


def refusal(client: httpx.Client, base_url: str, dataset: dict) -> str:
    """The detail of a create that must be refused with 400."""
    response = create(client, base_url, dataset)
    assert response.status_code == 400, response.text
    return response.json()["detail"]


def without(tag: str) -> dict:
    dataset = workitem_json()
    del dataset[tag]
    return dataset


def state_of(client: httpx.Client, base_url: str, uid: str) -> str:
    return retrieve(client, base_url, uid)["00741000"]["Value"][0]


# ---- create ------------------------------------------------------------------------------------------------


def test_create_with_the_uid_in_the_query_answers_201_with_location(client: httpx.Client, base_url: str) -> None:
    uid = generate_uid()
    response = create(client, base_url, workitem_json(), uid)
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/v2/workitems/{uid}")
    assert response.headers["Content-Location"] == response.headers["Location"]


def test_create_without_a_query_takes_the_datasets_sop_instance_uid(client: httpx.Client, base_url: str) -> None:
    uid = generate_uid()
    dataset = workitem_json(**{"00080018": element("UI", uid)})
    response = client.post(f"{base_url}/workitems", content=json.dumps(dataset), headers=HEADERS)
    assert response.status_code == 201
    assert retrieve(client, base_url, uid)["00080018"]["Value"] == [uid]


def test_creating_an_existing_workitem_is_a_409(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    assert create(client, base_url, workitem_json(), uid).status_code == 409


def test_a_new_workitem_in_another_state_than_scheduled_is_a_400_saying_so(client: httpx.Client, base_url: str) -> None:
    assert "SCHEDULED" in refusal(client, base_url, workitem_json(**{"00741000": element("CS", "IN PROGRESS")}))


def test_a_new_workitem_with_a_transaction_uid_is_a_400(client: httpx.Client, base_url: str) -> None:
    assert "Transaction UID" in refusal(client, base_url, workitem_json(**{"00081195": element("UI", generate_uid())}))


def test_a_new_workitem_without_a_type_1_attribute_is_a_400_naming_it(client: httpx.Client, base_url: str) -> None:
    assert "Procedure Step Label" in refusal(client, base_url, without("00741204"))


def test_a_new_workitem_without_a_type_2_attribute_is_a_400_naming_it(client: httpx.Client, base_url: str) -> None:
    assert "Patient ID" in refusal(client, base_url, without("00100020"))


def test_a_create_body_that_is_not_dicom_json_is_a_415(client: httpx.Client, base_url: str) -> None:
    headers = {**HEADERS, "Content-Type": "application/xml"}
    response = client.post(f"{base_url}/workitems?{generate_uid()}", content=b"<x/>", headers=headers)
    assert response.status_code == 415


def test_a_create_body_that_is_not_json_is_a_400_not_a_500(client: httpx.Client, base_url: str) -> None:
    response = client.post(f"{base_url}/workitems?{generate_uid()}", content=b"{nope", headers=HEADERS)
    assert response.status_code == 400


def test_a_new_workitem_gets_a_study_instance_uid_for_its_images(client: httpx.Client, base_url: str) -> None:
    item = retrieve(client, base_url, created(client, base_url))
    study = item["0020000D"]["Value"][0]
    assert item["0040A370"]["Value"][0]["0020000D"]["Value"] == [study]


# ---- retrieve and update -----------------------------------------------------------------------------------


def test_retrieve_never_returns_the_transaction_uid(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    assert change_state(client, base_url, uid, "IN PROGRESS", generate_uid()).status_code == 200
    assert "00081195" not in retrieve(client, base_url, uid)


def test_retrieving_an_unknown_workitem_is_a_404(client: httpx.Client, base_url: str) -> None:
    response = client.get(f"{base_url}/workitems/{generate_uid()}", headers={"Accept": DICOM_JSON})
    assert response.status_code == 404
    assert "There is no workitem" in response.json()["detail"]


def test_a_scheduled_workitem_is_updated_without_a_transaction_uid(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    assert update(client, base_url, uid, {"00741204": element("LO", "CT chest")}).status_code == 200
    assert retrieve(client, base_url, uid)["00741204"]["Value"] == ["CT chest"]


def test_updating_a_scheduled_workitem_with_a_transaction_uid_is_a_400(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    assert update(client, base_url, uid, {"00741204": element("LO", "x")}, generate_uid()).status_code == 400


def test_an_update_cannot_set_the_procedure_step_state(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    response = update(client, base_url, uid, {"00741000": element("CS", "COMPLETED")})
    assert response.status_code == 400
    assert state_of(client, base_url, uid) == "SCHEDULED"


def test_an_in_progress_workitem_is_updated_only_with_its_transaction_uid(client: httpx.Client, base_url: str) -> None:
    uid, transaction = created(client, base_url), generate_uid()
    change_state(client, base_url, uid, "IN PROGRESS", transaction)
    label = {"00741204": element("LO", "changed")}
    assert update(client, base_url, uid, label).status_code == 400
    assert update(client, base_url, uid, label, generate_uid()).status_code == 400
    assert update(client, base_url, uid, label, transaction).status_code == 200


def test_updating_a_completed_or_canceled_workitem_is_a_400(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    assert cancel_request(client, base_url, uid).status_code == 202
    assert update(client, base_url, uid, {"00741204": element("LO", "late")}).status_code == 400


# ---- change state ------------------------------------------------------------------------------------------


def test_claim_then_complete_with_the_transaction_uid(client: httpx.Client, base_url: str) -> None:
    uid, transaction = created(client, base_url), generate_uid()
    assert change_state(client, base_url, uid, "IN PROGRESS", transaction).status_code == 200
    assert update(client, base_url, uid, PERFORMED, transaction).status_code == 200
    assert change_state(client, base_url, uid, "COMPLETED", transaction).status_code == 200
    assert state_of(client, base_url, uid) == "COMPLETED"


def test_completing_without_the_performed_procedure_is_a_400_naming_it(client: httpx.Client, base_url: str) -> None:
    uid, transaction = created(client, base_url), generate_uid()
    change_state(client, base_url, uid, "IN PROGRESS", transaction)
    response = change_state(client, base_url, uid, "COMPLETED", transaction)
    assert response.status_code == 400
    assert "Performed Procedure Sequence" in response.json()["detail"]
    assert state_of(client, base_url, uid) == "IN PROGRESS"


def test_cancelling_a_claimed_workitem_records_the_cancellation_time(client: httpx.Client, base_url: str) -> None:
    uid, transaction = created(client, base_url), generate_uid()
    change_state(client, base_url, uid, "IN PROGRESS", transaction)
    assert change_state(client, base_url, uid, "CANCELED", transaction).status_code == 200
    item = retrieve(client, base_url, uid)
    assert item["00741000"]["Value"] == ["CANCELED"]
    assert item["00741002"]["Value"][0]["00404052"]["Value"]


def test_a_state_change_with_a_wrong_or_missing_transaction_uid_is_a_400(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    change_state(client, base_url, uid, "IN PROGRESS", generate_uid())
    assert change_state(client, base_url, uid, "CANCELED", generate_uid()).status_code == 400
    assert change_state(client, base_url, uid, "CANCELED", None).status_code == 400


def test_completing_a_scheduled_workitem_without_claiming_it_is_a_400(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    assert change_state(client, base_url, uid, "COMPLETED", generate_uid()).status_code == 400


def test_claiming_a_claimed_workitem_is_a_409(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    change_state(client, base_url, uid, "IN PROGRESS", generate_uid())
    assert change_state(client, base_url, uid, "IN PROGRESS", generate_uid()).status_code == 409


def test_of_performers_claiming_at_once_exactly_one_wins(base_url: str) -> None:
    with httpx.Client(timeout=60) as setup:
        uid = created(setup, base_url)
    transactions = [generate_uid() for _ in range(6)]

    def claim(transaction: str) -> int:
        with httpx.Client(timeout=60) as own:
            return change_state(own, base_url, uid, "IN PROGRESS", transaction).status_code

    with ThreadPoolExecutor(len(transactions)) as pool:
        statuses = list(pool.map(claim, transactions))
    assert sorted(statuses) == [200] + [409] * (len(transactions) - 1)
    winner = transactions[statuses.index(200)]
    with httpx.Client(timeout=60) as check:
        assert update(check, base_url, uid, {"00741204": element("LO", "mine")}, winner).status_code == 200


# ---- request cancellation ----------------------------------------------------------------------------------


def test_a_cancellation_request_cancels_a_scheduled_workitem_with_202(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    assert cancel_request(client, base_url, uid).status_code == 202
    assert state_of(client, base_url, uid) == "CANCELED"


def test_a_cancellation_request_for_a_workitem_in_progress_is_a_409(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    change_state(client, base_url, uid, "IN PROGRESS", generate_uid())
    assert cancel_request(client, base_url, uid).status_code == 409
    assert state_of(client, base_url, uid) == "IN PROGRESS"


def test_a_cancellation_request_for_a_cancelled_workitem_warns_299(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    cancel_request(client, base_url, uid)
    response = cancel_request(client, base_url, uid)
    assert response.status_code == 409
    assert response.headers["Warning"].startswith("299 ")
    assert response.headers["Warning"].endswith("The UPS is already in the requested state of CANCELED.")


def test_a_cancellation_request_for_an_unknown_workitem_is_a_404(client: httpx.Client, base_url: str) -> None:
    response = cancel_request(client, base_url, generate_uid())
    assert response.status_code == 404
    assert "There is no workitem" in response.json()["detail"]


# ---- delete (extension) ------------------------------------------------------------------------------------


def test_deleting_a_workitem_removes_it(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    assert client.delete(f"{base_url}/workitems/{uid}").status_code == 204
    assert client.get(f"{base_url}/workitems/{uid}", headers={"Accept": DICOM_JSON}).status_code == 404


MALFORMED = {
    "value not an array": b'{"00741000": {"vr": "CS", "Value": 5}}',
    "element not an object": b'{"00741000": "SCHEDULED"}',
    "two datasets": b"[{}, {}]",
    "sequence item not an object": b'{"0040A370": {"vr": "SQ", "Value": [7]}}',
    "nested beyond reason": b"[" * 100_000 + b"]" * 100_000,
    "lone surrogate": json.dumps(workitem_json(patient_id="\ud800")).encode(),
    "sequences nested too deep": b'{"0040A370": {"vr": "SQ", "Value": [' * 20 + b"{}" + b"]}}" * 20,
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_dicom_json_body_is_a_400_and_stores_nothing(
    client: httpx.Client, base_url: str, body: bytes
) -> None:
    uid = generate_uid()
    response = client.post(f"{base_url}/workitems?{uid}", content=body, headers=HEADERS)
    assert response.status_code == 400, response.text
    assert client.get(f"{base_url}/workitems/{uid}", headers={"Accept": DICOM_JSON}).status_code == 404


def test_an_update_cannot_empty_a_required_attribute(client: httpx.Client, base_url: str) -> None:
    uid = created(client, base_url)
    response = update(client, base_url, uid, {"00741204": element("LO")})
    assert response.status_code == 400
    assert "Procedure Step Label" in response.json()["detail"]
