"""The DICOM-file layer: reading headers, validating values, locating frames, DICOM JSON and pixels.

Knows nothing of HTTP or storage; failures are the domain errors of `dicom.errors`.
"""
