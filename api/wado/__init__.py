"""WADO-RS: instances, metadata, frames, bulk data, rendered images and thumbnails."""
