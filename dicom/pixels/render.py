"""Rendered images (/rendered) and thumbnails: DICOM pixels to a displayable JPEG or PNG.

Grayscale: modality LUT, then the file's window (or VOI LUT), else the frame's own range; MONOCHROME1 is
inverted. Colour: YBR is converted to RGB, palette colour through its LUT.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pydicom
from PIL import Image
from pydicom import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

from ..errors import CannotProvide
from ..layout import require_frames

JPEG, PNG = "image/jpeg", "image/png"
THUMBNAIL_SIZE = 128


@dataclass(frozen=True)
class RenderRequest:
    media_type: str  # JPEG or PNG
    quality: int  # JPEG quality, 1 to 100


def render(data: bytes, frame: int, request: RenderRequest, max_size: int | None = None) -> bytes:
    """Render from the whole file: for layouts whose frames were not located at store time."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    if "PixelData" not in dataset:
        raise CannotProvide("This instance has no pixel data to render.")
    count = int(dataset.get("NumberOfFrames") or 1)
    require_frames([frame], count)
    pixels = pixel_array(dataset, index=frame - 1 if count > 1 else None)
    return _encode(_displayable(pixels, dataset, frame - 1), request, max_size)


def render_frame(header: bytes, frame_data: bytes, frame: int, request: RenderRequest, max_size: int | None) -> bytes:
    """Render one frame read on its own (native bytes, or its encapsulated fragments) with the file's header.

    The header (the file up to its Pixel Data) carries the window, LUTs and photometric interpretation;
    the instance becomes one frame long, so memory follows the frame's size, not the file's.
    """
    dataset = pydicom.dcmread(io.BytesIO(header), stop_before_pixels=True)
    dataset.NumberOfFrames = 1
    if dataset.file_meta.TransferSyntaxUID.is_encapsulated:
        dataset.PixelData = encapsulate([frame_data])
        dataset["PixelData"].VR = "OB"
    else:
        dataset.PixelData = frame_data
        dataset["PixelData"].VR = "OB" if int(dataset.BitsAllocated) <= 8 else "OW"
    return _encode(_displayable(pixel_array(dataset), dataset, frame - 1), request, max_size)


def _encode(pixels: np.ndarray, request: RenderRequest, max_size: int | None) -> bytes:
    image = Image.fromarray(pixels)
    if max_size:
        image.thumbnail((max_size, max_size))
    output = io.BytesIO()
    if request.media_type == PNG:
        image.save(output, format="PNG")
    else:
        image.save(output, format="JPEG", quality=request.quality)
    return output.getvalue()


def _displayable(pixels: np.ndarray, dataset: Dataset, index: int) -> np.ndarray:
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        return _to_uint8(apply_color_lut(pixels, dataset))
    if pixels.ndim == 3:  # RGB (pydicom already converted YBR to RGB)
        return _to_uint8(pixels)
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    center, width = _window(dataset, index)
    if center is not None and width is not None and width >= 1:
        # PS3.3 C.11.2.1.2.1, linear
        scaled = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    else:
        if "VOILUTSequence" in dataset:
            values = apply_voi_lut(pixels, dataset, index=index).astype(np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255 / (high - low)) if high > low else np.zeros_like(values)
    result = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return 255 - result if photometric == "MONOCHROME1" else result


def _window(dataset: Dataset, index: int) -> tuple[float | None, float | None]:
    frame_voi = _per_frame_voi(dataset, index)
    source = frame_voi if frame_voi is not None else dataset
    center, width = source.get("WindowCenter"), source.get("WindowWidth")
    if center is None or width is None:
        return None, None
    first = lambda value: float(value[0] if isinstance(value, pydicom.multival.MultiValue) else value)  # noqa: E731
    return first(center), first(width)


def _per_frame_voi(dataset: Dataset, index: int) -> Dataset | None:
    """Enhanced multi-frame objects keep the window in the functional groups."""
    for group in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        items = dataset.get(group)
        if not items:
            continue
        item = items[min(index, len(items) - 1)] if group.startswith("PerFrame") else items[0]
        voi = item.get("FrameVOILUTSequence")
        if voi:
            return voi[0]
    return None


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit colour as it is; wider colour (e.g. 16-bit palette LUT output) scaled from its full range."""
    if pixels.dtype == np.uint8:
        return pixels
    full_scale = float(np.iinfo(pixels.dtype).max) if np.issubdtype(pixels.dtype, np.integer) else 1.0
    if pixels.max() <= 255:
        full_scale = 255.0
    return np.clip(np.rint(pixels.astype(np.float64) * (255 / full_scale)), 0, 255).astype(np.uint8)
