"""Rendered images (/rendered) and thumbnails: DICOM pixels to a displayable JPEG or PNG.

Grayscale: modality LUT, then the file's window (or VOI LUT), else the frame's own range; MONOCHROME1 is
inverted. Colour: YBR is converted to RGB, palette colour through its LUT.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass

import numpy as np
import pydicom
from PIL import Image
from pydicom import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

from ..errors import ArchiveError, CannotProvide
from ..layout import pixel_module, require_frames
from .inflate import inflated
from .limits import (
    declared_length,
    decoding,
    native_length,
    require_codestream_fits,
    require_decodable,
    require_native_length,
    require_whole,
)
from .reduced import reduced_pixels

JPEG, PNG = "image/jpeg", "image/png"
THUMBNAIL_SIZE = 128


@dataclass(frozen=True)
class RenderRequest:
    media_type: str  # JPEG or PNG
    quality: int  # JPEG quality, 1 to 100


def render(data: bytes, frame: int, request: RenderRequest, max_size: int | None = None) -> bytes:
    """Render from the whole file: for layouts whose frames were not located at store time (deflated files
    are inflated in bounded steps first)."""
    with decoding():
        dataset = pydicom.dcmread(io.BytesIO(inflated(data)))
    if "PixelData" not in dataset:
        raise CannotProvide("This instance has no pixel data to render.")
    count = int(dataset.get("NumberOfFrames") or 1)
    require_frames([frame], count)
    if dataset.file_meta.TransferSyntaxUID.is_encapsulated:
        with decoding(frame):
            frame_data = next(
                itertools.islice(generate_frames(dataset.PixelData, number_of_frames=count), frame - 1, None)
            )
        return _render_one(dataset, frame_data, frame, request, max_size)
    length = _frame_length(dataset)
    require_native_length(len(dataset.PixelData), _pixel_data_length(dataset, count))
    if int(dataset.BitsAllocated) % 8 and count > 1:  # 1-bit frames share bytes: pydicom picks the frame
        require_decodable(int(dataset.Rows), int(dataset.Columns), int(dataset.get("SamplesPerPixel") or 1))
        with decoding(frame):
            pixels = pixel_array(dataset, index=frame - 1)
        return _encode(_displayable(pixels, dataset, frame - 1), request, max_size)
    return _render_one(dataset, dataset.PixelData[(frame - 1) * length : frame * length], frame, request, max_size)


def render_frame(header: bytes, frame_data: bytes, frame: int, request: RenderRequest, max_size: int | None) -> bytes:
    """Render one frame read on its own (native bytes, or its encapsulated fragments) with the file's header.

    The header (the file up to its Pixel Data) carries the window, LUTs and photometric interpretation;
    the instance becomes one frame long, so memory follows the frame's size, not the file's.
    """
    dataset = pydicom.dcmread(io.BytesIO(header), stop_before_pixels=True)
    syntax = dataset.file_meta.TransferSyntaxUID
    if not syntax.is_encapsulated:
        count = int(dataset.get("NumberOfFrames") or 1)
        declared = declared_length(header, not syntax.is_little_endian)
        require_native_length(declared, _pixel_data_length(dataset, count))
        require_whole(len(frame_data), _frame_length(dataset), frame)
    return _render_one(dataset, frame_data, frame, request, max_size)


def _render_one(dataset: Dataset, frame_data: bytes, frame: int, request: RenderRequest, max_size: int | None) -> bytes:
    """One frame's bytes, checked, decoded (at reduced resolution for thumbnails where the codec can) and
    encoded; `dataset` is the instance's, its Pixel Data replaced by the frame."""
    module = pixel_module(dataset)
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    syntax = dataset.file_meta.TransferSyntaxUID
    pixels = None
    dataset.NumberOfFrames = 1
    if syntax.is_encapsulated:
        require_codestream_fits(syntax, frame_data, rows, columns, frame)
        if max_size:
            pixels = _reduced(frame_data, syntax, module, max_size)
        dataset.PixelData = encapsulate([frame_data])
        dataset["PixelData"].VR = "OB"
    else:
        dataset.PixelData = frame_data
        dataset["PixelData"].VR = "OB" if int(dataset.BitsAllocated) <= 8 else "OW"
    if pixels is None:
        require_decodable(rows, columns, int(dataset.get("SamplesPerPixel") or 1))
        with decoding(frame):
            pixels = pixel_array(dataset)
    return _encode(_displayable(pixels, dataset, frame - 1), request, max_size)


def _reduced(frame_data: bytes, syntax: str, module: dict[str, object], max_size: int) -> np.ndarray | None:
    """Reduced-resolution pixels, or None to decode at full size (also when the codec refuses to reduce)."""
    try:
        return reduced_pixels(frame_data, syntax, module, max_size)
    except ArchiveError:
        raise
    except Exception:  # e.g. a tile asking fewer levels than its header: decode in full, capped
        return None


def _frame_length(dataset: Dataset) -> int:
    return _pixel_data_length(dataset, 1)


def _pixel_data_length(dataset: Dataset, count: int) -> int:
    samples = int(dataset.get("SamplesPerPixel") or 1)
    return native_length(int(dataset.Rows), int(dataset.Columns), samples, int(dataset.BitsAllocated), count)


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


STRIP_VALUES = 1 << 20  # grey values scaled per step, so the floating-point copies stay a few MiB


def _displayable(pixels: np.ndarray, dataset: Dataset, index: int) -> np.ndarray:
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        return _to_uint8(apply_color_lut(pixels, dataset))
    if pixels.ndim == 3:  # RGB (pydicom already converted YBR to RGB)
        return _to_uint8(pixels)
    step = max(1, STRIP_VALUES // max(1, pixels.shape[-1]))
    strips = [slice(start, start + step) for start in range(0, pixels.shape[0], step)]
    center, width = _window(dataset, index)
    if center is not None and width is not None and width >= 1:

        def scaled(part: np.ndarray) -> np.ndarray:  # PS3.3 C.11.2.1.2.1, linear
            values = apply_modality_lut(part, dataset).astype(np.float64)
            return ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    else:
        use_lut = "VOILUTSequence" in dataset

        def values_of(part: np.ndarray) -> np.ndarray:
            lut = apply_voi_lut(part, dataset, index=index) if use_lut else apply_modality_lut(part, dataset)
            return lut.astype(np.float64)

        low = min(float(values_of(pixels[strip]).min()) for strip in strips)
        high = max(float(values_of(pixels[strip]).max()) for strip in strips)

        def scaled(part: np.ndarray) -> np.ndarray:
            values = values_of(part)
            return (values - low) * (255 / (high - low)) if high > low else np.zeros_like(values)

    result = np.empty(pixels.shape, np.uint8)
    for strip in strips:
        result[strip] = np.clip(np.rint(scaled(pixels[strip])), 0, 255)
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
