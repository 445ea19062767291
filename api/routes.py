"""Route templates the areas share: the API version first, then the DICOMweb resource path."""

STUDIES = "{api_version}/studies"
STUDY = STUDIES + "/{study}"
SERIES = STUDY + "/series/{series}"
INSTANCE = SERIES + "/instances/{instance}"
