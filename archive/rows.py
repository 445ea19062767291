"""The index's rows, typed: one Table Storage partition per study, so a store or delete commits atomically.

Table `<prefix>studies`, partition = Study Instance UID:
    RowKey "A"                 the study: Attrs (DICOM JSON), Series, Instances, Modalities, Updated, Created
    RowKey "B|<series>"        a series: Attrs, Instances, Modality, Updated
    RowKey "C|<series>|<sop>"  an instance: Attrs, Blob (its stored version), TransferSyntax, Size, Frames, ...
Counts and ModalitiesInStudy are derived from the series rows inside the same transaction, so they are
right however many stores race. This module alone knows these keys and property names.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dicom.layout import EncapsulatedLayout, FrameLayout
from dicom.values import DicomJson, first_text

STUDY_ROW = "A"
SERIES_PREFIX = "B|"
INSTANCE_PREFIX = "C|"
MODALITY_TAG = "00080060"
# Table string properties hold 32K characters; a larger fragment table is not kept (frames then decode the file).
MAX_ENCAPSULATED_JSON = 30_000


def series_key(series: str) -> str:
    return f"{SERIES_PREFIX}{series}"


def instance_key(series: str, sop: str) -> str:
    return f"{INSTANCE_PREFIX}{series}|{sop}"


def instance_key_range(series: str | None = None) -> tuple[str, str]:
    """[lower, upper) of the instance rows of a study, or of one of its series."""
    prefix = f"{INSTANCE_PREFIX}{series}|" if series else INSTANCE_PREFIX
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def now_stamp() -> str:
    """Sortable write time; rows sort newest first by it."""
    return f"{time.time_ns():020d}"


def timestamp(entity: dict) -> datetime | None:
    """When Table Storage last wrote the entity (server time)."""
    stamp = getattr(entity, "metadata", {}).get("timestamp")
    return stamp if isinstance(stamp, datetime) else None


def etag(entity: dict) -> str | None:
    return entity.metadata.get("etag") if hasattr(entity, "metadata") else None


@dataclass
class StudyRow:
    study: str
    attrs: DicomJson
    series_count: int
    instance_count: int
    modalities: list[str]
    updated: str
    created: str  # when its first instance was stored: study searches list studies newest first by it
    etag: str | None = None
    written: datetime | None = None
    keyed_by_creation: bool = True  # rows written before 2026-11-23 have no Created (their Updated stands in)

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> StudyRow:
        return cls(
            study=entity["PartitionKey"],
            attrs=json.loads(entity["Attrs"]),
            series_count=int(entity["Series"]),
            instance_count=int(entity["Instances"]),
            modalities=json.loads(entity.get("Modalities") or "[]"),
            updated=entity["Updated"],
            created=entity.get("Created") or entity["Updated"],
            etag=etag(entity),
            written=timestamp(entity),
            keyed_by_creation=bool(entity.get("Created")),
        )

    @classmethod
    def derived(cls, study: str, attrs: DicomJson, series: list[SeriesRow], updated: str, created: str) -> StudyRow:
        """The study row its series rows imply: counts and modalities derived, never counted separately."""
        return cls(
            study=study,
            attrs=attrs,
            series_count=len(series),
            instance_count=sum(row.instances for row in series),
            modalities=sorted({row.modality for row in series if row.modality}),
            updated=updated,
            created=created,
        )

    def to_entity(self) -> dict[str, Any]:
        return {
            "PartitionKey": self.study,
            "RowKey": STUDY_ROW,
            "Attrs": json.dumps(self.attrs),
            "Series": self.series_count,
            "Instances": self.instance_count,
            "Modalities": json.dumps(self.modalities),
            "Updated": self.updated,
            "Created": self.created,
        }


@dataclass
class SeriesRow:
    study: str
    series: str
    attrs: DicomJson
    instances: int
    updated: str
    etag: str | None = None
    written: datetime | None = None

    @property
    def modality(self) -> str:
        return first_text(self.attrs.get(MODALITY_TAG)).upper()

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> SeriesRow:
        return cls(
            study=entity["PartitionKey"],
            series=entity["RowKey"][len(SERIES_PREFIX) :],
            attrs=json.loads(entity["Attrs"]),
            instances=int(entity["Instances"]),
            updated=entity["Updated"],
            etag=etag(entity),
            written=timestamp(entity),
        )

    def to_entity(self) -> dict[str, Any]:
        return {
            "PartitionKey": self.study,
            "RowKey": series_key(self.series),
            "Attrs": json.dumps(self.attrs),
            "Instances": self.instances,
            "Modality": self.modality,
            "Updated": self.updated,
        }


@dataclass
class InstanceRecord:
    study: str
    series: str
    sop: str
    version: str  # the stored version: names its blobs (archive.blobs)
    transfer_syntax: str
    size: int
    frames: FrameLayout | None
    attrs: DicomJson
    updated: str
    etag: str | None = None
    encapsulated: EncapsulatedLayout | None = None
    bulk: dict[str, tuple[int, int]] = field(default_factory=dict)
    written: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.series, self.sop

    @property
    def frame_count(self) -> int:
        """From the layout found at store time, else from NumberOfFrames."""
        if self.frames is not None:
            return self.frames.count
        if self.encapsulated is not None:
            return len(self.encapsulated.frames)
        return int(first_text(self.attrs.get("00280008")) or 1)

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> InstanceRecord:
        series, sop = entity["RowKey"][len(INSTANCE_PREFIX) :].split("|")
        frames = None
        if entity.get("Frames"):
            offset, length, count = (int(v) for v in entity["Frames"].split(","))
            frames = FrameLayout(offset, length, count)
        return cls(
            study=entity["PartitionKey"],
            series=series,
            sop=sop,
            version=entity["Blob"],
            transfer_syntax=entity["TransferSyntax"],
            size=int(entity["Size"]),
            frames=frames,
            attrs=json.loads(entity["Attrs"]),
            updated=entity["Updated"],
            etag=etag(entity),
            encapsulated=_encapsulated_from(entity.get("Encapsulated")),
            bulk={tag: (r[0], r[1]) for tag, r in json.loads(entity.get("Bulk") or "{}").items()},
            written=timestamp(entity),
        )

    def to_entity(self) -> dict[str, Any]:
        frames = self.frames
        return {
            "PartitionKey": self.study,
            "RowKey": instance_key(self.series, self.sop),
            "Blob": self.version,
            "TransferSyntax": self.transfer_syntax,
            "Size": str(self.size),
            "Frames": f"{frames.offset},{frames.length},{frames.count}" if frames else "",
            "Attrs": json.dumps(self.attrs),
            "Updated": self.updated,
            "Encapsulated": _encapsulated_to(self.encapsulated),
            "Bulk": json.dumps(self.bulk, separators=(",", ":")),
        }


def _encapsulated_to(layout: EncapsulatedLayout | None) -> str:
    if layout is None:
        return ""
    text = json.dumps({"frames": layout.frames, "pixel": layout.pixel_module}, separators=(",", ":"))
    return text if len(text) <= MAX_ENCAPSULATED_JSON else ""


def _encapsulated_from(text: str | None) -> EncapsulatedLayout | None:
    if not text:
        return None
    value = json.loads(text)
    return EncapsulatedLayout([[tuple(r) for r in frame] for frame in value["frames"]], value["pixel"])


@dataclass
class StudyPartition:
    """The rows of one study partition (or the part of it that was read), by kind."""

    study: StudyRow | None = None
    series: dict[str, SeriesRow] = field(default_factory=dict)
    instances: dict[tuple[str, str], InstanceRecord] = field(default_factory=dict)

    @classmethod
    def of(cls, entities: list[dict[str, Any]]) -> StudyPartition:
        partition = cls()
        for entity in entities:
            key = entity["RowKey"]
            if key == STUDY_ROW:
                partition.study = StudyRow.from_entity(entity)
            elif key.startswith(SERIES_PREFIX):
                row = SeriesRow.from_entity(entity)
                partition.series[row.series] = row
            elif key.startswith(INSTANCE_PREFIX):
                record = InstanceRecord.from_entity(entity)
                partition.instances[record.key] = record
        return partition
