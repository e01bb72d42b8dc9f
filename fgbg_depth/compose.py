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


def paste_image(background: Image.Image, cutout: Image.Image, x: int, y: int,
                with_mask: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """`paste` done by Pillow in C: the same bytes (Pillow's blend rounds (fg·a + bg·(255 − a)) / 255
    to the nearest integer as `paste` does; a test checks all 256³ inputs) at a fraction of the
    time. `background` (RGB) is left as it was. The mask is None unless asked for."""
    opaque = (np.asarray(cutout.getchannel("A")) > 0).view(np.uint8) * np.uint8(255) if with_mask else None
    return paste_cutout(background, cutout, opaque, x, y)


def paste_cutout(background: Image.Image, cutout: Image.Image, opaque: np.ndarray | None, x: int, y: int,
                 background_pixels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """`paste_image` with the cut-out's own mask given (uint8, 255 where its alpha > 0, else 0), or
    None for no mask: a cut-out pasted many times has it made once. The cut-out must lie inside
    the frame. Pillow pastes onto the box's part of the background only, and only that part comes
    back from Pillow into the copy of `background_pixels` (the background as an array, if given)."""
    w, h = cutout.size
    if background_pixels is None:
        background_pixels = np.asarray(background)
    part = background.crop((x, y, x + w, y + h))
    part.paste(cutout, (0, 0), cutout)
    composite = background_pixels.copy()
    composite[y:y + h, x:x + w] = np.asarray(part)
    if opaque is None:
        return composite, None
    mask = np.zeros((background.height, background.width), dtype=np.uint8)
    mask[y:y + h, x:x + w] = opaque
    return composite, mask


def bleed_colours(fg: Image.Image) -> Image.Image:
    """The cut-out's colours carried over its whole frame (mode RGB): where it is transparent, each
    pixel takes the colour of the object nearby (push-pull: a pyramid of alpha-weighted means; each
    level keeps its own mean by the weight it holds, up to 1, and takes the rest from the coarser
    level). Opaque pixels keep their colours exactly; faint ones lean on their surroundings, since
    a cut-out's colours there are often meaningless. A blend that widens the silhouette (feathering)
    or looks past it (Poisson's guidance) reads these. Made once per cut-out and resolution."""
    rgba = np.asarray(fg, dtype=np.float32)
    weight = rgba[..., 3:4] / 255.0
    levels = [(rgba[..., :3] * weight, weight)]
    while max(levels[-1][1].shape[:2]) > 1:
        colour, w = levels[-1]
        h, wd = colour.shape[:2]
        ph, pw = h % 2, wd % 2  # odd sides: repeat the last row/column so 2×2 blocks tile
        colour = np.pad(colour, ((0, ph), (0, pw), (0, 0)), mode="edge")
        w = np.pad(w, ((0, ph), (0, pw), (0, 0)), mode="edge")
        levels.append((colour.reshape(colour.shape[0] // 2, 2, colour.shape[1] // 2, 2, 3).sum((1, 3)),
                       w.reshape(w.shape[0] // 2, 2, w.shape[1] // 2, 2, 1).sum((1, 3))))
    filled = levels[-1][0] / np.maximum(levels[-1][1], 1e-6)
    for colour, w in reversed(levels[:-1]):
        up = np.repeat(np.repeat(filled, 2, axis=0), 2, axis=1)[:colour.shape[0], :colour.shape[1]]
        trust = np.minimum(w, 1.0)
        filled = colour / np.maximum(w, 1e-6) * trust + up * (1.0 - trust)
    return Image.fromarray(np.clip(np.rint(filled), 0, 255).astype(np.uint8), "RGB")
