"""Pixels: transfer-syntax conversion and rendering, with pydicom's pixel backends."""
