"""Paste a cut-out onto a background: pure array maths plus Pillow resizes."""

from __future__ import annotations

import numpy as np
from PIL import Image

RESAMPLE = Image.Resampling.LANCZOS
# Each sample's cut-out is reduced from its mip level (at most the frame size), by less than 2× in
# most cases: bilinear (Pillow's is antialiased) is as sharp there as Lanczos and twice as fast.
SAMPLE_RESAMPLE = Image.Resampling.BILINEAR


def fit_background(im: Image.Image, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to size×size; returns uint8 H×W×3."""
    side = min(im.width, im.height)
    left = (im.width - side) // 2
    top = (im.height - side) // 2
    square = im.crop((left, top, left + side, top + side))
    return np.asarray(square.resize((size, size), RESAMPLE), dtype=np.uint8)


def reduce_foreground(fg: Image.Image, res: int, flip: bool) -> Image.Image:
    """The cut-out mirrored if asked and shrunk (aspect kept) so neither side exceeds `res`: no box
    in a res×res frame is larger, so every later resize is a reduction from this picture."""
    im = fg.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else fg
    scale = res / max(im.width, im.height)
    if scale < 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), RESAMPLE)
    return im


def resize_foreground(fg: Image.Image, w: int, h: int) -> np.ndarray:
    """The RGBA cut-out at w×h (Pillow resizes RGBA with premultiplied alpha: no dark fringes)."""
    return np.asarray(fg.resize((w, h), SAMPLE_RESAMPLE), dtype=np.uint8)


def paste(bg: np.ndarray, fg_rgba: np.ndarray, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """Alpha-blend fg_rgba onto a copy of bg at (x, y).

    Returns the composite (uint8 H×W×3) and the mask (uint8 H×W, 255 where alpha > 0, else 0).
    Integer arithmetic with rounding, so the result is the same on every machine.
    """
    h, w = fg_rgba.shape[:2]
    out = bg.copy()
    # 255 · 255 + 127 fits in 16 bits, so uint16 holds every intermediate exactly
    region = out[y:y + h, x:x + w].astype(np.uint16)
    alpha = fg_rgba[..., 3:4].astype(np.uint16)
    blended = (fg_rgba[..., :3] * alpha + region * (255 - alpha) + 127) // 255
    out[y:y + h, x:x + w] = blended.astype(np.uint8)
    mask = np.zeros(bg.shape[:2], dtype=np.uint8)
    mask[y:y + h, x:x + w] = np.where(fg_rgba[..., 3] > 0, 255, 0).astype(np.uint8)
    return out, mask
