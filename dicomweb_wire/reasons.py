"""STOW-RS failure and warning reasons (PS3.18 and the reference service), named once for both sides."""

from __future__ import annotations

# Failure reasons (00081197 in a failed SOP's item).
PROCESSING_FAILURE = 272
VALIDATION_FAILURE = 43264
STUDY_MISMATCH = 43265
ALREADY_EXISTS = 45070
STORED_CONCURRENTLY = 45071  # POST: another request stored the same instance meanwhile

# Warning reasons (00081196 in a stored SOP's item).
VALIDATION_WARNING = 1  # v2: invalid searchable values were left out of index and metadata
SOP_CLASS_MISMATCH = 45063
# This service's own: the instance's patient attributes differ from its study's (0xB00A, in the Bxxx warnings).
PATIENT_MISMATCH = 45066

FAILURES = {
    PROCESSING_FAILURE: "processing failure",
    VALIDATION_FAILURE: "invalid instance",
    STUDY_MISMATCH: "study does not match",
    ALREADY_EXISTS: "already stored",
    STORED_CONCURRENTLY: "being stored by another request",
}
