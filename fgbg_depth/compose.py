"""Paste a cut-out onto a background: the plain integer definition, and Pillow doing it in C (each sample's
resize of the cut-out is resample.py's; the once-per-input fits are Pillow's Lanczos)."""

from __future__ import annotations

from functools import cached_property

import numpy as np
from PIL import Image

RESAMPLE = Image.Resampling.LANCZOS  # once per background and cut-out: each sample's resize is resample.py's
# The version of what a sample's pixels are made by, in every run's recipe (scene.SceneOptions.versions):
# 1 resized each cut-out with Pillow and pasted straight colours; 2 resizes it with resample.py and
# pastes it premultiplied (the over operator, no colour divided back by its alpha). A folder written
# by another version has another fingerprint, so it is never finished with mixed bytes.
COMPOSE_VERSION = 2


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


class Silhouette:
    """Where a resized cut-out is opaque at all (alpha > 0), and what the later stages read of it, each
    made once (on first use) for every sample that pastes this cut-out at this size: `opaque` (uint8
    h×w, 255 or 0, what the mask holds in the box), `on` (bool h×w), the opaque pixels of each row
    and in all, and the lowest row with any (-1 if none: a cut-out can vanish at a small size). A
    composite made without a mask (a device model's input) reads none of them."""

    def __init__(self, on: np.ndarray):
        self.on = on

    @cached_property
    def opaque(self) -> np.ndarray:
        return self.on.view(np.uint8) * np.uint8(255)

    @cached_property
    def count(self) -> int:
        return int(np.count_nonzero(self.on))

    @cached_property
    def row_counts(self) -> np.ndarray:
        return np.count_nonzero(self.on, axis=1)

    @cached_property
    def foot(self) -> int:
        lit = np.flatnonzero(self.row_counts)
        return int(lit[-1]) if lit.size else -1


def paste(bg: np.ndarray, cutout: np.ndarray, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """The premultiplied cut-out (uint8 h×w×4: colour·alpha, alpha) over a copy of bg at (x, y), in
    plain integer arithmetic: frame·(255 − alpha)/255 rounded to the nearest, plus the colour. With the
    mask (uint8 H×W, 255 where alpha > 0, else 0). The definition `paste_cutout` is held to."""
    h, w = cutout.shape[:2]
    out = bg.copy()
    region = out[y:y + h, x:x + w].astype(np.uint16)
    alpha = cutout[..., 3:4].astype(np.uint16)
    out[y:y + h, x:x + w] = ((region * (255 - alpha) + 127) // 255 + cutout[..., :3]).astype(np.uint8)
    mask = np.zeros(bg.shape[:2], dtype=np.uint8)
    mask[y:y + h, x:x + w] = np.where(cutout[..., 3] > 0, 255, 0).astype(np.uint8)
    return out, mask


def paste_cutout(background: np.ndarray, cutout: Image.Image, opaque: np.ndarray | None, x: int,
                 y: int) -> tuple[np.ndarray, np.ndarray | None]:
    """`paste` done by Pillow in C (an RGBa cut-out pasted through itself is its over operator, with
    the same rounding: tests/test_hot_path.py checks every valid input, colour ≤ alpha) onto a copy of
    `background` (uint8 H×W×4, RGBX: the four-byte pixels Pillow keeps an RGB picture in; left as it
    was), with the cut-out's own mask given (uint8, 255 where its alpha > 0, else 0), or None for no
    mask: a cut-out pasted many times has it made once. The cut-out must lie inside the frame. The
    composite is the copy (H×W×4, the fourth byte filler), which Pillow's core pastes into in place,
    mapped as Image.frombuffer maps a buffer: no Pillow picture is made, copied or exported."""
    if background.dtype != np.uint8 or background.ndim != 3 or background.shape[2] != 4:
        raise ValueError(f"paste_cutout needs a uint8 H×W×4 background, not {background.dtype} {background.shape}")
    w, h = cutout.size
    composite = background.copy()  # C-contiguous and writable, as the mapping below needs
    canvas = Image.core.map_buffer(composite, (composite.shape[1], composite.shape[0]), "raw", 0, ("RGBX", 0, 1))
    # the core's paste, which Image.paste ends in: the box and modes are known good, its checks not needed
    canvas.paste(cutout.im, (x, y, x + w, y + h), cutout.im)
    if opaque is None:
        return composite, None
    mask = np.zeros(composite.shape[:2], dtype=np.uint8)
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
