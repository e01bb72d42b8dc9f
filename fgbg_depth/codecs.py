"""Image codecs of the hot path: JPEG through libjpeg-turbo (simplejpeg), grey PNG through zlib.

Both are deterministic for a given build of the libraries. simplejpeg's decoder with
fastdct/fastupsample off gives the same pixels as Pillow's (libjpeg-turbo's defaults), which is
what `datasets` users decode with, so statistics taken from it are the users' values.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import simplejpeg

JPEG_QUALITY = 90
PNG_LEVEL = 1  # depth and mask are smooth or binary: level 1 is within a few hundred bytes of 6, at half the time


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """uint8 H×W×3 (RGB) or H×W×4 (RGBX: the fourth byte ignored, as Pillow keeps an RGB picture in
    memory) → JPEG; libjpeg-turbo converts either with the same arithmetic, so the bytes are the same."""
    return simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=quality,
                                  colorspace="RGBX" if rgb.shape[-1] == 4 else "RGB",
                                  colorsubsampling="420", fastdct=False)


def decode_jpeg(data: bytes) -> np.ndarray:
    return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False)


def decode_jpeg_rgbx(data: bytes, out: np.ndarray) -> np.ndarray:
    """`decode_jpeg` into `out` (uint8 H×W×4), each pixel's fourth byte filler: libjpeg-turbo
    converts to RGBX with the same arithmetic as to RGB (the same values; a test holds it to that),
    and a picture of 4-byte pixels is what Pillow keeps in memory, so it can count it in place."""
    return simplejpeg.decode_jpeg(data, colorspace="RGBX", fastdct=False, fastupsample=False, buffer=out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = _chunk(b"IEND", b"")
IDAT_CRC = zlib.crc32(b"IDAT")


def encode_png_gray(arr: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """uint8 H×W → 8-bit grey PNG, uint16 H×W → 16-bit grey PNG; every row with the "Up" filter."""
    h, w = arr.shape
    if arr.dtype == np.uint16:
        raw, bits = arr.astype(">u2").view(np.uint8).reshape(h, 2 * w), 16
    elif arr.dtype == np.uint8:
        raw, bits = arr, 8
    else:
        raise ValueError(f"grey PNG needs uint8 or uint16, got {arr.dtype}")
    rows = np.empty((h, raw.shape[1] + 1), np.uint8)
    rows[:, 0] = 2  # filter type Up: each byte minus the byte above it, modulo 256
    rows[0, 1:] = raw[0]
    np.subtract(raw[1:], raw[:-1], out=rows[1:, 1:])
    header = struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0)
    idat = zlib.compress(rows, level)
    return b"".join((PNG_SIGNATURE, _chunk(b"IHDR", header), struct.pack(">I", len(idat)), b"IDAT", idat,
                     struct.pack(">I", zlib.crc32(idat, IDAT_CRC)), PNG_END))  # the compressed data copied once


def encode_png_palette(ids: np.ndarray, palette, level: int = PNG_LEVEL) -> bytes:
    """uint8 H×W indices → 8-bit palette PNG (PLTE from `palette`, a list of RGB triples), Up-filtered
    like the grey PNGs: viewers show the colours, readers get the indices back (Pillow mode P)."""
    h, w = ids.shape
    if ids.dtype != np.uint8 or (ids.size and int(ids.max()) >= len(palette)):
        raise ValueError("palette PNG needs uint8 indices within the palette")
    rows = np.empty((h, w + 1), np.uint8)
    rows[:, 0] = 2
    rows[0, 1:] = ids[0]
    np.subtract(ids[1:], ids[:-1], out=rows[1:, 1:])
    header = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
    plte = bytes(c for rgb in palette for c in rgb)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"PLTE", plte)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _chunk(b"IEND", b""))
