"""Extended query tags: attributes a site makes searchable beyond the standard list, as the Azure DICOM service
has them. Tags live at the base URI and apply to every data partition.

Table `<prefix>extendedquerytags` (in the default partition's account):
    PartitionKey "tag",       RowKey <8 hex digits>     Path, VR, PrivateCreator, Level, Status (Adding, Ready),
                                                        QueryStatus (Enabled, Disabled), Errors, Operation
    PartitionKey "error|<tag>", RowKey <n>               Study, Series, Sop, Created, Message (a failed reindex)
    PartitionKey "operation", RowKey <id>                Type, Status, Created, Updated, Percent, Tags, Cursor,
                                                        Total, Done, LeaseUntil (see archive.reindex)
A new tag is indexed by every store at once (Status Adding) and, for what was stored before, by a reindex
operation; it becomes searchable when that operation completes (Ready).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableClient
from pydicom.datadict import dictionary_VR, keyword_for_tag

from dicom.attributes import BY_TAG, Attribute, Level
from dicom.errors import Conflicting, Invalid, Missing
from dicomweb_wire.tags import hex_tag

from .clients import DEFAULT_PARTITION, Storage, get_storage
from .lookup import drop_attribute
from .partitions import all_partitions

MAX_TAGS = 128
VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "PN", "SH", "SL", "SS", "TM", "UI", "UL", "US"}
)
LEVELS = {"study": Level.STUDY, "series": Level.SERIES, "instance": Level.INSTANCE}
ADDING, READY = "Adding", "Ready"
ENABLED, DISABLED = "Enabled", "Disabled"
CACHE_SECONDS = 2.0
_cache: tuple[float, list[ExtendedTag]] | None = None


@dataclass
class ExtendedTag:
    tag: str  # 8 hex digits
    vr: str
    private_creator: str
    level: Level
    status: str
    query_status: str
    errors: int
    operation: str

    @property
    def path(self) -> str:
        """A standard tag's keyword, a private tag's hex."""
        return keyword_for_tag(int(self.tag, 16)) or self.tag

    @property
    def attribute(self) -> Attribute:
        return Attribute(self.path, self.level, searchable=True, extended_tag=self.tag, extended_vr=self.vr)

    @property
    def searchable(self) -> bool:
        return self.status == READY and self.query_status == ENABLED

    def to_json(self, base: str) -> dict:
        body: dict = {
            "path": self.tag, "vr": self.vr, "level": self.level.name.title(), "status": self.status,
            "queryStatus": self.query_status,
        }  # fmt: skip
        if self.private_creator:
            body["privateCreator"] = self.private_creator
        if self.errors:
            body["errors"] = {"count": self.errors, "href": f"{base}/extendedquerytags/{self.tag}/errors"}
        if self.status == ADDING and self.operation:
            body["operation"] = {"id": self.operation, "href": f"{base}/operations/{self.operation}"}
        return body

    @classmethod
    def of(cls, entity: dict) -> ExtendedTag:
        return cls(entity["RowKey"], entity["VR"], entity.get("PrivateCreator") or "", Level(int(entity["Level"])),
                   entity["Status"], entity["QueryStatus"], int(entity.get("Errors") or 0),
                   entity.get("Operation") or "")  # fmt: skip


async def registry() -> tuple[Storage, TableClient]:
    root = await get_storage(DEFAULT_PARTITION)
    return root, await root.table("extendedquerytags")


async def all_tags(fresh: bool = False) -> list[ExtendedTag]:
    """Every extended tag (cached for a moment: every store and search asks)."""
    global _cache
    if not fresh and _cache is not None and time.monotonic() - _cache[0] < CACHE_SECONDS:
        return _cache[1]
    root, table = await registry()
    tags = [ExtendedTag.of(e) for e in await root.query(table, "PartitionKey eq @pk", {"pk": "tag"})]
    _cache = (time.monotonic(), tags)
    return tags


def forget_cache() -> None:
    global _cache
    _cache = None


async def indexed_at(level: Level) -> list[Attribute]:
    """The extended tags a store copies into the rows of `level` and indexes (Adding or Ready)."""
    return [t.attribute for t in await all_tags() if t.level == level]


def resolve_path(path: str) -> str:
    """8 hex digits from a tag path (hex or keyword); Invalid otherwise."""
    text = path.strip()
    tag = hex_tag(text)
    if tag is None:
        raise Invalid(f"'{text[:64]}' is not a tag path: use 8 hex digits (00081090) or a keyword.")
    return tag


def _validated(spec: object) -> ExtendedTag:
    if not isinstance(spec, dict) or "path" not in spec or "level" not in spec:
        raise Invalid("Each extended query tag is an object with path, level and (for a private tag) vr.")
    tag = resolve_path(str(spec["path"]))
    private = int(tag[:4], 16) % 2 == 1
    try:
        vr = str(spec.get("vr") or ("" if private else dictionary_VR(int(tag, 16)))).upper()
    except KeyError:
        vr = ""
    if vr not in VRS:
        raise Invalid(f"Tag {tag}: VR '{vr or '(none)'}' is not one of {', '.join(sorted(VRS))}; give a vr.")
    if not private and spec.get("vr") and vr != dictionary_VR(int(tag, 16)):
        raise Invalid(f"Tag {tag} has VR {dictionary_VR(int(tag, 16))} in the standard, not {vr}.")
    creator = str(spec.get("privateCreator") or "")
    if private and not creator:
        raise Invalid(f"Private tag {tag} needs its privateCreator.")
    level = LEVELS.get(str(spec["level"]).lower())
    if level is None:
        raise Invalid(f"Tag {tag}: level must be Study, Series or Instance, not '{str(spec['level'])[:20]}'.")
    if tag in BY_TAG and BY_TAG[tag].searchable:
        raise Conflicting(f"Tag {tag} ({BY_TAG[tag].keyword}) is already searchable.")
    return ExtendedTag(tag, vr, creator, level, ADDING, ENABLED, 0, "")


async def add(specs: object) -> str:
    """Register the tags (Adding) and the reindex operation that will make them Ready; the operation's id."""
    if not isinstance(specs, list) or not specs:
        raise Invalid("The body must be a JSON array of extended query tags, e.g. "
                      '[{"path": "00081090", "vr": "LO", "level": "Instance"}].')  # fmt: skip
    tags = [_validated(spec) for spec in specs]
    if len({t.tag for t in tags}) != len(tags):
        raise Invalid("The same tag is given twice.")
    existing = {t.tag for t in await all_tags(fresh=True)}
    if clash := [t.tag for t in tags if t.tag in existing]:
        raise Conflicting(f"Extended query tag(s) {', '.join(clash)} already exist.")
    if len(existing) + len(tags) > MAX_TAGS:
        raise Invalid(f"At most {MAX_TAGS} extended query tags; {len(existing)} exist.")
    operation = uuid.uuid4().hex
    _, table = await registry()
    now = _now()
    await table.create_entity({"PartitionKey": "operation", "RowKey": operation, "Type": "reindex",
                               "Status": "notStarted", "Created": now, "Updated": now, "Percent": 0,
                               "Tags": json.dumps([t.tag for t in tags]), "Cursor": "", "Done": 0,
                               "Total": -1, "LeaseUntil": 0.0})  # fmt: skip
    for tag in tags:
        try:
            await table.create_entity({"PartitionKey": "tag", "RowKey": tag.tag, "VR": tag.vr,
                                       "PrivateCreator": tag.private_creator, "Level": int(tag.level),
                                       "Status": ADDING, "QueryStatus": ENABLED, "Errors": 0,
                                       "Operation": operation})  # fmt: skip
        except ResourceExistsError as error:
            raise Conflicting(f"Extended query tag {tag.tag} was added by another request meanwhile.") from error
    forget_cache()
    return operation


async def find(path: str) -> ExtendedTag:
    tag = resolve_path(path)
    found = [t for t in await all_tags(fresh=True) if t.tag == tag]
    if not found:
        raise Missing(f"There is no extended query tag {tag}.")
    return found[0]


async def remove(path: str) -> None:
    """Delete the tag: no longer searchable, and its lookup pointers removed in every data partition (its values
    stay in the index rows, where nothing reads them)."""
    tag = await find(path)
    _, table = await registry()
    await table.delete_entity("tag", tag.tag)
    forget_cache()
    for key in sorted({DEFAULT_PARTITION} | {p.key for p in await all_partitions()}):
        await drop_attribute(await get_storage(key), tag.attribute)


async def set_query_status(path: str, status: str) -> ExtendedTag:
    if status not in (ENABLED, DISABLED):
        raise Invalid('queryStatus must be "Enabled" or "Disabled".')
    tag = await find(path)
    root, table = await registry()
    entity = await root.get(table, "tag", tag.tag)
    if entity is None:
        raise Missing(f"There is no extended query tag {tag.tag}.")
    await table.update_entity({**entity, "QueryStatus": status})
    forget_cache()
    tag.query_status = status
    return tag


async def errors_of(path: str) -> list[dict]:
    tag = await find(path)
    root, table = await registry()
    rows = await root.query(table, "PartitionKey eq @pk", {"pk": f"error|{tag.tag}"})
    return [{"studyInstanceUid": r["Study"], "seriesInstanceUid": r["Series"], "sopInstanceUid": r["Sop"],
             "createdTime": r["Created"], "errorMessage": r["Message"]} for r in rows]  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
