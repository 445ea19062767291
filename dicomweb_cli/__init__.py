"""The `dicomweb` command line: a DICOMweb client for this service (and any other), installed on its own."""
