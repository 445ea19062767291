"""What happened to each instance of a store request, and the API version's rules that decide it."""

from __future__ import annotations

from dataclasses import dataclass, field

from dicom.errors import InstanceFailure
from dicom.parsing import ParsedInstance
from dicomweb_wire.reasons import STUDY_MISMATCH, VALIDATION_FAILURE, VALIDATION_WARNING


@dataclass
class Outcome:
    sop_class_uid: str | None
    sop_uid: str | None
    study_uid: str | None = None
    series_uid: str | None = None
    failure: InstanceFailure | None = None
    warnings: list[int] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def apply_rules(item: ParsedInstance, api_version: str, study_in_path: str | None) -> None:
    """v1 refuses an empty PatientID and invalid searchable values; v2 stores the file as sent but leaves the
    invalid values out of index and metadata, with a warning. Both refuse a study other than the path's."""
    if api_version == "v1" and item.patient_id_empty:
        raise InstanceFailure(
            VALIDATION_FAILURE, "PatientID (0010,0020) is empty; API v1 requires a value (v2 accepts it empty)."
        )
    if study_in_path is not None and item.study_uid != study_in_path:
        raise InstanceFailure(
            STUDY_MISMATCH,
            f"StudyInstanceUID {item.study_uid} does not match the study in the request path "
            f"({study_in_path}); reason 43265.",
        )
    problems = item.invalid_values
    if problems and api_version == "v1":
        raise InstanceFailure(VALIDATION_FAILURE, "; ".join(problem for _, problem in problems))
    if problems:
        for tag, _ in problems:
            item.metadata.pop(tag, None)
        item.warnings.insert(0, VALIDATION_WARNING)
        item.comments[:0] = [problem for _, problem in problems]
