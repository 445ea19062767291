"""Patient orders (the PostDICOM operations) on the UPS-RS worklist: an order is a workitem.

`dicomweb order create|get|search|delete|assign|tags`; OrderClient is the same as a Python library. FIELDS
maps each PostDICOM order field to the workitem attribute that holds it. An institution is a data partition
when the service has them (`GET {base}/partitions` answers), and is always recorded as Institution Name.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydicom.datadict import keyword_for_tag
from pydicom.uid import generate_uid
from rich.console import Console

from dicomweb_wire.tags import hex_tag

from . import output
from .client import DicomWebClient, ServiceError
from .errors import HttpError

DICOM_JSON = "application/dicom+json"
REQUEST = "0040A370"  # Referenced Request Sequence
ASSIGNEES, PERFORMER_CODE, LONG_CODE = "00404034", "00404009", "00080119"
ENTRA_SCHEME = "99ENTRA"
# PostDICOM field (option) -> (workitem attribute path, VR). Paths through a sequence use its first item.
FIELDS: dict[str, tuple[str, str]] = {
    "institution": ("00080080", "LO"),  # InstitutionName (and the data partition, where partitions are on)
    "patient_name": ("00100010", "PN"),
    "patient_id": ("00100020", "LO"),
    "other_patient_id": ("00101002.00100020", "LO"),  # OtherPatientIDsSequence > PatientID
    "sex": ("00100040", "CS"),
    "birth_date": ("00100030", "DA"),
    "modality": ("00404026.00080100", "SH"),  # ScheduledStationClassCodeSequence > CodeValue (DCM)
    "study_description": ("00081030", "LO"),  # StudyDescription (also the Procedure Step Label)
    "accession": (f"{REQUEST}.00080050", "SH"),  # ReferencedRequestSequence > AccessionNumber
    "complaints": (f"{REQUEST}.00401002", "LO"),  # ... > ReasonForTheRequestedProcedure
    "scheduled": ("00404005", "DT"),  # ScheduledProcedureStepStartDateTime
    "procedure_id": (f"{REQUEST}.00401001", "SH"),  # ... > RequestedProcedureID
    "procedure_description": (f"{REQUEST}.00321060", "LO"),  # ... > RequestedProcedureDescription
    "requesting_physician": (f"{REQUEST}.00321032", "PN"),  # ... > RequestingPhysician
    "referring_physician": ("00080090", "PN"),  # ReferringPhysicianName
    "equipment": ("00404025.00080104", "LO"),  # ScheduledStationNameCodeSequence > CodeMeaning
}
REQUIRED = ("institution", "patient_name", "patient_id", "birth_date", "modality")


def _date(text: str, with_time: bool = False) -> str:
    """YYYY-MM-DD (and HH:MM) as DICOM DA (DT)."""
    form, shown = ("%Y-%m-%d %H:%M", "YYYY-MM-DD HH:MM") if with_time else ("%Y-%m-%d", "YYYY-MM-DD")
    try:
        parsed = datetime.strptime(text.strip(), form)
    except ValueError as error:
        raise ServiceError(f"'{text}' is not a date{' and time' if with_time else ''} as {shown}") from error
    return parsed.strftime("%Y%m%d%H%M00" if with_time else "%Y%m%d")


def _element(vr: str, value: str | None) -> dict:
    if not value:
        return {"vr": vr}
    return {"vr": vr, "Value": [{"Alphabetic": value} if vr == "PN" else value]}


def _put(dataset: dict, path: str, vr: str, value: str | None) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        dataset[head] = _element(vr, value)
        return
    items = dataset.setdefault(head, {"vr": "SQ", "Value": [{}]})["Value"]
    _put(items[0], rest, vr, value)


def _get(dataset: dict, path: str) -> str:
    head, _, rest = path.partition(".")
    values = (dataset.get(head) or {}).get("Value") or []
    if rest:
        return _get(values[0], rest) if values and isinstance(values[0], dict) else ""
    value = values[0] if values else ""
    return value.get("Alphabetic", "") if isinstance(value, dict) else str(value)


def order_dataset(fields: dict[str, str | None]) -> dict:
    """The SCHEDULED workitem for an order (PS3.4 Table CC.2.5-3's creation requirements met)."""
    missing = [name for name in REQUIRED if not fields.get(name)]
    if missing:
        raise ServiceError("an order needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    values = {**fields, "birth_date": _date(fields["birth_date"] or "")}
    values["scheduled"] = _date(fields["scheduled"], True) if fields.get("scheduled") else _now()
    study = generate_uid()
    dataset: dict = {
        "00741000": _element("CS", "SCHEDULED"), "00741200": _element("CS", "MEDIUM"),
        "00404041": _element("CS", "READY"), "0020000D": _element("UI", study), "00100040": _element("CS", None),
        "00741204": _element("LO", fields.get("study_description") or fields.get("procedure_description")
                             or f"{fields['modality']} order"),
        REQUEST: {"vr": "SQ", "Value": [{"0020000D": _element("UI", study)}]},
    }  # fmt: skip
    for name, (path, vr) in FIELDS.items():
        if values.get(name):
            _put(dataset, path, vr, values[name])
    _put(dataset, "00404026.00080102", "SH", "DCM")
    if fields.get("equipment"):
        _put(dataset, "00404025.00080100", "SH", (fields["equipment"] or "")[:16])
        _put(dataset, "00404025.00080102", "SH", "99LOCAL")
    return dataset


def _now() -> str:
    return datetime.now().strftime("%Y%m%d%H%M00")


def performers(ids: list[tuple[str, str]]) -> dict:
    """Scheduled Human Performers Sequence: one item per Entra object ID (kind: user or group)."""
    items = [{PERFORMER_CODE: {"vr": "SQ", "Value": [{
        LONG_CODE: _element("UC", oid), "00080102": _element("SH", ENTRA_SCHEME),
        "00080104": _element("LO", f"Entra ID {kind}")}]}} for oid, kind in ids]  # fmt: skip
    return {ASSIGNEES: {"vr": "SQ", "Value": items}}


class OrderClient:
    """The order operations over a DicomWebClient (its base URL, token and HTTP client)."""

    def __init__(self, client: DicomWebClient, institution: str | None = None) -> None:
        self.client = client
        self.institution = institution
        self._base: str | None = None

    async def base(self) -> str:
        """The base URL orders of this institution live under: its partition, when the service has them."""
        if self._base is None:
            self._base = self.client.base_url
            if self.institution:
                probe = await self.client.http.get(f"{self._base}/partitions", headers=self.client.headers("*/*"))
                if probe.status_code in (200, 204):
                    self._base = f"{self._base}/partitions/{self.institution}"
        return self._base

    async def _send(self, method: str, path: str, body: dict | None = None, ok: tuple[int, ...] = (200,)) -> Any:
        headers = self.client.headers(DICOM_JSON)
        content = None if body is None else json.dumps(body)
        if body is not None:
            headers["Content-Type"] = DICOM_JSON
        url = f"{await self.base()}/{path}"
        response = await self.client.http.request(method, url, content=content, headers=headers)
        if response.status_code not in ok:
            raise HttpError.of(response)
        return response

    async def create(self, fields: dict[str, str | None]) -> tuple[str, str]:
        """Create an order; returns its UID and the Study Instance UID its images are to carry."""
        dataset = order_dataset({**fields, "institution": fields.get("institution") or self.institution})
        uid = generate_uid()
        await self._send("POST", f"workitems?{uid}", dataset, ok=(201,))
        return uid, _get(dataset, "0020000D")

    async def get(self, uid: str) -> dict:
        """The order's workitem, and how many series and instances of its study have arrived."""
        item = (await self._send("GET", f"workitems/{uid}")).json()
        params = {"StudyInstanceUID": _get(item, "0020000D"),
                  "includefield": "NumberOfStudyRelatedSeries,NumberOfStudyRelatedInstances"}  # fmt: skip
        response = await self.client.http.get(f"{await self.base()}/studies", params=params,
                                              headers=self.client.headers(DICOM_JSON))  # fmt: skip
        if response.status_code not in (200, 204):
            raise HttpError.of(response)
        studies = response.json() if response.status_code == 200 else []
        series = int(_get(studies[0], "00201206") or 0) if studies else 0
        instances = int(_get(studies[0], "00201208") or 0) if studies else 0
        return {"item": item, "series": series, "instances": instances}

    async def search(self, filters: list[tuple[str, str]], modalities: list[str], limit: int) -> list[dict]:
        """Orders matching every filter and any of the modalities (one worklist search per modality)."""
        found: dict[str, dict] = {}
        for modality in modalities or [None]:
            params = [*filters, ("limit", str(limit)), ("includefield", "all")]
            if modality:
                params.append(("ScheduledStationClassCodeSequence.CodeValue", modality))
            response = await self._send("GET", "workitems?" + _encode(params), ok=(200, 204))
            for item in response.json() if response.status_code == 200 else []:
                found.setdefault(_get(item, "00080018"), item)
        return sorted(found.values(), key=lambda item: (_get(item, "00404005"), _get(item, "00080018")))

    async def delete(self, uid: str) -> None:
        await self._send("DELETE", f"workitems/{uid}", ok=(204,))

    async def assign(self, uid: str, ids: list[tuple[str, str]]) -> None:
        """Assign a SCHEDULED order to users and groups (replacing earlier assignees)."""
        await self._send("POST", f"workitems/{uid}", performers(ids))

    async def tags(self, uid: str, tags: list[str], series: str | None = None) -> list[dict[str, Any]]:
        """The values of the chosen tags (all when none) in each image of the order (or of one series)."""
        study = _get((await self._send("GET", f"workitems/{uid}")).json(), "0020000D")
        path = f"studies/{study}" + (f"/series/{series}" if series else "")
        response = await self.client.http.get(f"{await self.base()}/{path}/metadata",
                                              headers=self.client.headers(DICOM_JSON))  # fmt: skip
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise HttpError.of(response)
        wanted = [_tag(t) for t in tags]
        return [{tag: element.get("Value", []) for tag, element in instance.items() if not wanted or tag in wanted}
                for instance in response.json()]  # fmt: skip


def _encode(params: list[tuple[str, str]]) -> str:
    return urlencode(params)


def _tag(name: str) -> str:
    tag = hex_tag(name)
    if tag is None:
        raise ServiceError(f"'{name}' is not a DICOM keyword or 8-hex-digit tag")
    return tag


# ---- the `dicomweb order` commands ----

SEARCH_FILTERS = {
    "patient_name": "PatientName", "patient_id": "PatientID", "other_patient_id": "OtherPatientIDsSequence.PatientID",
    "accession": "ReferencedRequestSequence.AccessionNumber",
}  # fmt: skip
# The columns of a search result (getting an order shows every field).
LISTED = ["patient_name", "patient_id", "birth_date", "modality", "accession", "scheduled", "institution"]


def add_commands(commands: Any) -> None:
    """`dicomweb order ...`: the PostDICOM patient order operations."""
    order = commands.add_parser("order", help="patient orders (worklist items): create, get, search, assign, ...")
    actions = order.add_subparsers(dest="order_command", required=True)
    create = actions.add_parser("create", help="create a patient order; prints its UID and Study Instance UID")
    for name in FIELDS:
        create.add_argument("--" + name.replace("_", "-"), dest=name, required=name in REQUIRED,
                            help=_help(name))  # fmt: skip
    get = actions.add_parser("get", help="an order's properties and how many series and instances have arrived")
    search = actions.add_parser("search", help="find orders")
    for name in SEARCH_FILTERS:
        search.add_argument("--" + name.replace("_", "-"), dest=name)
    search.add_argument("--modality", action="append", default=[], help="repeatable: any of these")
    search.add_argument("--institution", action="append", default=[], help="repeatable: any of these")
    for name in ("from", "to", "birth_from", "birth_to"):
        search.add_argument("--" + name.replace("_", "-"), dest=name, metavar="YYYY-MM-DD")
    search.add_argument("--assigned-to-me", action="store_true", help="only orders assigned to you or your groups")
    search.add_argument("--limit", type=int, default=100)
    delete = actions.add_parser("delete", help="delete an order (only its creator may)")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    assign = actions.add_parser("assign", help="assign an order to Entra ID users and groups (object IDs)")
    assign.add_argument("--user", action="append", default=[], metavar="OBJECT_ID")
    assign.add_argument("--group", action="append", default=[], metavar="OBJECT_ID")
    tags = actions.add_parser("tags", help="values of DICOM tags in the images of an order")
    tags.add_argument("--series", help="only this series")
    tags.add_argument("--tag", action="append", default=[], help="keyword or 8-hex-digit tag (repeatable)")
    for action in (get, delete, assign, tags):
        action.add_argument("order", help="the order's UID")
        action.add_argument("--institution")
    for action in (create, get, search, tags):
        action.add_argument("--json", action="store_true", help="the same as -o json")
        output.add_options(action)


def _help(name: str) -> str:
    path = FIELDS[name][0]
    words = " > ".join(keyword_for_tag(int(tag, 16)) for tag in path.split("."))
    dates = {"birth_date": " (YYYY-MM-DD)", "scheduled": " (YYYY-MM-DD HH:MM; default now)"}
    return f"{words}{dates.get(name, '')}"


def _date_range(low: str | None, high: str | None) -> str | None:
    if not low and not high:
        return None
    return f"{_date(low) if low else ''}-{_date(high) if high else ''}"


async def _order(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    command = arguments.order_command
    if command == "search":
        return await _search(client, arguments)
    orders = OrderClient(client, getattr(arguments, "institution", None))
    if command == "create":
        uid, study = await orders.create({name: getattr(arguments, name) for name in FIELDS})
        output.show(arguments, {"order": uid, "study_instance_uid": study})
    elif command == "get":
        found = await orders.get(arguments.order)
        shown = {"order": arguments.order, "state": _get(found["item"], "00741000"),
                 **{name: _get(found["item"], FIELDS[name][0]) for name in FIELDS},
                 "study_instance_uid": _get(found["item"], "0020000D"), "assigned_to": _assignees(found["item"]),
                 "series": found["series"], "instances": found["instances"]}  # fmt: skip
        output.show(arguments, shown)
    elif command == "delete":
        if not arguments.yes and (
            not sys.stdin.isatty() or input(f"Delete order {arguments.order}? Type 'yes': ") != "yes"
        ):
            raise ServiceError("not deleted: confirm, or add --yes when not at a terminal")
        await orders.delete(arguments.order)
        console.print(f"Deleted order {arguments.order}")
    elif command == "assign":
        ids = [(oid, "user") for oid in arguments.user] + [(oid, "group") for oid in arguments.group]
        if not ids:
            raise ServiceError("name at least one --user or --group (Entra object IDs)")
        await orders.assign(arguments.order, ids)
        console.print(f"Assigned order {arguments.order} to {len(ids)} user(s) and group(s)")
    else:
        rows = await orders.tags(arguments.order, arguments.tag, arguments.series)
        output.show(arguments, rows)
    return 0


def _assignees(item: dict) -> str:
    items = (item.get(ASSIGNEES) or {}).get("Value") or []
    return ", ".join(_get(i, f"{PERFORMER_CODE}.{LONG_CODE}") for i in items if isinstance(i, dict))


async def _search(client: DicomWebClient, arguments: argparse.Namespace) -> int:
    filters = [(key, getattr(arguments, name)) for name, key in SEARCH_FILTERS.items() if getattr(arguments, name)]
    ranges = {"ScheduledProcedureStepStartDateTime": _date_range(arguments.__dict__["from"], arguments.to),
              "PatientBirthDate": _date_range(arguments.birth_from, arguments.birth_to)}  # fmt: skip
    filters += [(key, value) for key, value in ranges.items() if value]
    if arguments.patient_name:
        filters.append(("fuzzymatching", "true"))
    if arguments.assigned_to_me:
        filters.append(("assignedTo", "me"))
    found: list[dict] = []
    for institution in arguments.institution or [None]:
        orders = OrderClient(client, institution)
        results = await orders.search(filters, arguments.modality, arguments.limit)
        partitioned = (await orders.base()) != client.base_url
        found += [r for r in results if partitioned or not institution or _get(r, "00080080") == institution]
    rows = [{"order": _get(r, "00080018"), "state": _get(r, "00741000"),
             **{name: _get(r, FIELDS[name][0]) for name in LISTED}} for r in found]  # fmt: skip
    output.show(arguments, rows, ["order", "state", *LISTED], f"{len(rows)} orders")
    return 0


COMMANDS: dict[str, Callable[..., Awaitable[int]]] = {"order": _order}
