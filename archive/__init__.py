"""The storage layer: instances in Blob Storage, their index in Table Storage, a journal for crashes.

Callers see typed rows (`archive.rows`) and domain errors, never raw table entities, key formats or
blob names.
"""
