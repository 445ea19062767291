"""UPS workitems (PS3.4 Annex CC) as DICOM JSON: the state machine and the attribute requirements this service
checks when a workitem is created, updated, claimed, completed or cancelled.

The requirements are those of PS3.4 Table CC.2.5-3 that the reference service (the Azure DICOM service) checks:
  create   Transaction UID absent; Procedure Step State SCHEDULED; type 1 (present, not empty): Scheduled
           Procedure Step Priority (HIGH, MEDIUM, LOW), Procedure Step Label, Scheduled Procedure Step Start
           DateTime, Input Readiness State (READY, UNAVAILABLE, INCOMPLETE); type 2 (present): Patient's Name,
           Patient ID, Patient's Birth Date, Patient's Sex, Referenced Request Sequence; each Referenced Request
           item has a Study Instance UID (type 1); SOP Instance UID, if given, is the workitem's.
  update   never Procedure Step State, Transaction UID or SOP Instance UID; type 1 attributes stay non-empty.
  COMPLETED  a Unified Procedure Step Performed Procedure Sequence item with Performed Procedure Step Start and
           End DateTime (type 1) and an Output Information Sequence (type 2).
  CANCELED   a Procedure Step Progress Information Sequence item with the Procedure Step Cancellation DateTime
           (the service adds it when the request does not give one, as the reference service does).
Conditional (1C, 2C) requirements are treated as optional, as the reference service documents.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime

from dicomweb_wire.tags import is_hex_tag

from .errors import Invalid
from .values import DicomJson, all_texts, first_text

UPS_PUSH_SOP_CLASS = "1.2.840.10008.5.1.4.34.6.1"
SOP_CLASS, SOP_INSTANCE = "00080016", "00080018"
TRANSACTION_UID = "00081195"
STATE = "00741000"
START = "00404005"
MODIFIED = "00404010"
PRIORITY = "00741200"
LABEL = "00741204"
WORKLIST_LABEL = "00741202"
READINESS = "00404041"
STUDY = "0020000D"
REQUESTS = "0040A370"
PROGRESS = "00741002"
CANCELLED_AT = "00404052"
PERFORMED = "00741216"
PERFORMED_START, PERFORMED_END, OUTPUTS = "00404050", "00404051", "00404033"

SCHEDULED, IN_PROGRESS, CANCELED, COMPLETED = "SCHEDULED", "IN PROGRESS", "CANCELED", "COMPLETED"
FINAL = (CANCELED, COMPLETED)
DEFAULT_WORKLIST_LABEL = "dicomweb"
MAX_DEPTH = 8

# (tag, VR, what, allowed values or None): type 1 attributes of creation.
REQUIRED = [
    (PRIORITY, "CS", "Scheduled Procedure Step Priority", ("HIGH", "MEDIUM", "LOW")),
    (LABEL, "LO", "Procedure Step Label", None),
    (START, "DT", "Scheduled Procedure Step Start DateTime", None),
    (READINESS, "CS", "Input Readiness State", ("READY", "UNAVAILABLE", "INCOMPLETE")),
]
PRESENT = [
    ("00100010", "Patient's Name"), ("00100020", "Patient ID"), ("00100030", "Patient's Birth Date"),
    ("00100040", "Patient's Sex"), (REQUESTS, "Referenced Request Sequence"),
]  # fmt: skip


class StateConflict(Exception):
    """The request is inconsistent with the workitem's current state (HTTP 409); `warning` is the PS3.18
    Warning header text when there is one."""

    def __init__(self, message: str, warning: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.warning = warning


def now() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S.%f+0000")


def element(vr: str, *values: object) -> dict:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def state_of(item: DicomJson) -> str:
    return first_text(item.get(STATE)).upper()


def parse_dataset(body: object) -> DicomJson:
    """A DICOM JSON body: one dataset, or an array holding one (as PS3.18 sends them); tags upper-cased."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    return _dataset(body, 0)


def _dataset(body: object, depth: int) -> DicomJson:
    if depth > MAX_DEPTH:
        raise Invalid(f"Sequences are nested more than {MAX_DEPTH} deep; a workitem needs far fewer.")
    if not isinstance(body, dict):
        raise Invalid("The body must be one DICOM JSON dataset: an object of 8-hex-digit tags to {vr, Value}.")
    result = {}
    for tag, value in body.items():
        if not is_hex_tag(tag):
            raise Invalid(f"'{tag[:20]}' is not a DICOM JSON tag: use 8 hexadecimal digits, e.g. 00100010.")
        if not isinstance(value, dict) or not isinstance(value.get("Value", []), list):
            raise Invalid(f"Attribute {tag} must be an object {{vr, Value}} whose Value is an array.")
        if value.get("vr") == "SQ":
            value = {**value, "Value": [_dataset(item, depth + 1) for item in value.get("Value", [])]}
        result[tag.upper()] = value
    return result


def _check_required(item: DicomJson) -> None:
    for tag, _vr, what, allowed in REQUIRED:
        value = first_text(item.get(tag)).upper()
        if not value:
            raise Invalid(f"{what} ({tag[:4]},{tag[4:]}) is required (type 1) and must not be empty.")
        if allowed and value not in allowed:
            raise Invalid(f"{what} must be one of {', '.join(allowed)}, not '{value[:20]}'.")


def prepared_for_creation(dataset: DicomJson, uid: str) -> DicomJson:
    """The workitem as stored: checked against the creation requirements, with what the service fills in
    (SOP Class and Instance UID, Worklist Label, the Study Instance UID the order's images are to use)."""
    item = copy.deepcopy(dataset)
    given = first_text(item.get(SOP_INSTANCE))
    if given and given != uid:
        raise Invalid(f"The dataset's SOP Instance UID {given[:64]} differs from the workitem UID {uid} in the URL.")
    if TRANSACTION_UID in item:
        raise Invalid("A new workitem must not have a Transaction UID (0008,1195): the one who claims it sets it.")
    if state_of(item) != SCHEDULED:
        raise Invalid("A new workitem's Procedure Step State (0074,1000) must be SCHEDULED.")
    _check_required(item)
    for tag, what in PRESENT:
        if tag not in item:
            raise Invalid(f"{what} ({tag[:4]},{tag[4:]}) must be present (type 2; it may be empty).")
    study = first_text(item.get(STUDY)) or f"2.25.{uuid.uuid4().int}"
    for request in item[REQUESTS].get("Value") or []:
        if not isinstance(request, dict):
            raise Invalid("Referenced Request Sequence items must be DICOM JSON datasets.")
        request.setdefault(STUDY, element("UI", study))
        if not first_text(request.get(STUDY)):
            raise Invalid("Each Referenced Request Sequence item needs a Study Instance UID (type 1).")
    item.setdefault(STUDY, element("UI", study))
    item[SOP_CLASS] = element("UI", UPS_PUSH_SOP_CLASS)
    item[SOP_INSTANCE] = element("UI", uid)
    if not first_text(item.get(WORKLIST_LABEL)):
        item[WORKLIST_LABEL] = element("LO", DEFAULT_WORKLIST_LABEL)
    item[MODIFIED] = element("DT", now())
    return item


def check_transaction(state: str, held: str | None, given: str | None) -> None:
    """Who may change a workitem: anyone while SCHEDULED (without a Transaction UID), only the holder of the
    Transaction UID while IN PROGRESS, nobody once final."""
    if state in FINAL:
        raise Invalid(f"The workitem is {state}: a workitem in a final state cannot be changed.")
    if state == SCHEDULED and given:
        raise Invalid("The workitem is SCHEDULED: update it without a Transaction UID (claim it to get one).")
    if state == IN_PROGRESS and not given:
        raise Invalid("The workitem is IN PROGRESS: the Transaction UID is missing; give the one it was claimed with.")
    if state == IN_PROGRESS and given != held:
        raise Invalid("The workitem is IN PROGRESS: the Transaction UID is incorrect.")


def updated(item: DicomJson, changes: DicomJson) -> DicomJson:
    """The workitem with the update's attributes (a sequence is replaced whole, as PS3.18 says)."""
    for tag, what in ((STATE, "Procedure Step State"), (SOP_INSTANCE, "SOP Instance UID")):
        if tag in changes:
            raise Invalid(f"An update cannot set {what} ({tag[:4]},{tag[4:]}); use the state transaction.")
    result = {**item, **{tag: value for tag, value in changes.items() if tag != TRANSACTION_UID}}
    _check_required(result)
    result[MODIFIED] = element("DT", now())
    return result


def changed_state(item: DicomJson, held: str | None, wanted: str, given: str) -> tuple[DicomJson, str | None]:
    """The workitem after a Change State request (PS3.4 Table CC.1.1-2), and its Transaction UID then."""
    state = state_of(item)
    if wanted not in (IN_PROGRESS, COMPLETED, CANCELED):
        raise Invalid(f"Procedure Step State must be IN PROGRESS, COMPLETED or CANCELED, not '{wanted[:20]}'.")
    if not given:
        raise Invalid("The Transaction UID (0008,1195) is missing from the request.")
    if state in FINAL:
        raise Invalid(f"The workitem is already {state}: its state can no longer change.")
    if wanted == IN_PROGRESS:
        if state == IN_PROGRESS:
            raise StateConflict("The workitem is already IN PROGRESS: another performer has claimed it.")
        return {**item, STATE: element("CS", IN_PROGRESS), MODIFIED: element("DT", now())}, given
    if state == SCHEDULED:
        raise Invalid(f"The workitem is SCHEDULED: claim it (IN PROGRESS) before setting it {wanted}.")
    if given != held:
        raise Invalid("The Transaction UID is incorrect: give the one the workitem was claimed with.")
    final = {**item, STATE: element("CS", wanted), MODIFIED: element("DT", now())}
    check_final_state(final) if wanted == COMPLETED else _record_cancellation(final)
    return final, held


def cancelled(item: DicomJson, reasons: DicomJson) -> DicomJson:
    """A SCHEDULED workitem after a cancellation request: CANCELED at once (the reference service does not
    implement the Watch and Event SOP classes that would forward the request)."""
    state = state_of(item)
    if state == CANCELED:
        raise StateConflict(
            "The workitem is already CANCELED.", "The UPS is already in the requested state of CANCELED."
        )
    if state != SCHEDULED:
        raise StateConflict(f"The workitem is {state}: only a SCHEDULED workitem can be cancelled by request.")
    result = {**item, STATE: element("CS", CANCELED), MODIFIED: element("DT", now())}
    _record_cancellation(result, reasons)
    return result


def _record_cancellation(item: DicomJson, reasons: DicomJson | None = None) -> None:
    progress = copy.deepcopy(item.get(PROGRESS) or element("SQ"))
    items = progress.setdefault("Value", [])
    if not items:
        items.append({})
    entry = items[0]
    entry.update(reasons or {})
    entry.setdefault(CANCELLED_AT, element("DT", now()))
    item[PROGRESS] = progress


def check_final_state(item: DicomJson) -> None:
    """PS3.4 Table CC.2.5-3's final-state requirements for a COMPLETED workitem."""
    performed = (item.get(PERFORMED) or {}).get("Value") or []
    if not performed or not isinstance(performed[0], dict):
        raise Invalid(
            "A COMPLETED workitem needs a Unified Procedure Step Performed Procedure Sequence (0074,1216) item: "
            "update it (with the Transaction UID) before completing it."
        )
    for tag, what in ((PERFORMED_START, "Performed Procedure Step Start DateTime"),
                      (PERFORMED_END, "Performed Procedure Step End DateTime")):  # fmt: skip
        if not all_texts(performed[0].get(tag)):
            raise Invalid(f"A COMPLETED workitem needs {what} ({tag[:4]},{tag[4:]}) in its performed procedure.")
    if OUTPUTS not in performed[0]:
        raise Invalid("A COMPLETED workitem needs an Output Information Sequence (0040,4033) (it may be empty).")


def without_transaction(item: DicomJson) -> DicomJson:
    return {tag: value for tag, value in item.items() if tag != TRANSACTION_UID}
