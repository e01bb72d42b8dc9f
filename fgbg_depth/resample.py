"""Each sample's resize of its cut-out: a 4-band picture (premultiplied RGBa, or colours with the
alpha as a fourth band) brought to its box by bilinear (triangle) convolution, widened to the
reduction factor when shrinking (antialiased, as Pillow's resize), every band on its own.

The work is done by fast_image_resize (Rust, SIMD; the `cykooz-resizer` wheel), four to six times
Pillow's speed: at 224 px and up, Pillow's resize was a third of a sample's cost. Where no wheel
exists (Linux or Windows on ARM, PyPy), the same arithmetic runs in NumPy, slower but byte for byte the same
(tests/test_resample.py holds the two equal): a dataset's bytes never depend on the machine.

The arithmetic (fast_image_resize's for 8-bit pixels): per output pixel the triangle's weights,
normalised to sum to 1, rounded to integers at a precision just inside 16 bits; the vertical pass
first (over the columns the horizontal one reads), then the horizontal one, each summing in 32-bit
integers from half a unit and shifting back, clipped to 0-255.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

try:
    import cykooz_resizer
except ImportError:  # no wheel for this platform: the NumPy form below
    cykooz_resizer = None

MODES = ("RGBa", "RGBX")  # the two 4-band forms the compositing paths resize
_COEFF_BITS = 15  # weights are stored in int16
_MAX_PRECISION = 22  # 32 − 8 − 2 bits: a sum of 8-bit values times the weights fits an int32


def describe() -> str:
    """What resizes here, for the card's versions (both give the same bytes)."""
    if cykooz_resizer is not None:
        from importlib.metadata import version
        return f"cykooz-resizer {version('cykooz-resizer')}"
    return "numpy (fast_image_resize's arithmetic)"


class Resampler:
    """One process's resizer (fast_image_resize keeps scratch buffers between calls)."""

    def __init__(self, fast: bool = True):
        self._fast = None
        if fast and cykooz_resizer is not None:
            self._fast = cykooz_resizer.Resizer()
            self._options = cykooz_resizer.ResizeOptions(
                resize_alg=cykooz_resizer.ResizeAlg.convolution(cykooz_resizer.FilterType.bilinear), use_alpha=False)

    def resize(self, image: Image.Image, w: int, h: int, mode: str | None = None) -> Image.Image:
        """`image` (mode RGBa or RGBX: four bands, each resized on its own) at w×h, labelled `mode`
        (by default its own); a copy when the size is its own."""
        return self.resize_pixels(image, w, h, mode)[0]

    def resize_pixels(self, image: Image.Image, w: int, h: int,
                      mode: str | None = None) -> tuple[Image.Image, np.ndarray]:
        """`resize`, and the same memory as uint8 h×w×4 (the picture lies in the array: the resizer
        writes into it, and a later reader such as a mask takes it without Pillow's copy or export).
        The wheel takes four plain bands labelled RGBa, so an RGBX picture is relabelled for it (a
        copy of it each time): a source resized many times is best kept labelled RGBa, whatever its
        bands hold."""
        mode = mode or image.mode
        if image.mode not in MODES or mode not in MODES:
            raise ValueError(f"resample needs one of {MODES}, not {image.mode} → {mode}")
        if (w, h) == image.size:
            pixels = np.array(image)  # a copy, writable, h×w×4 (both modes are four bytes a pixel)
        elif self._fast is None:
            pixels = resize_bands(np.asarray(image), w, h)
        else:
            pixels = np.empty((h, w, 4), np.uint8)  # every byte is written by the resizer
            source = image if image.mode == "RGBa" else _relabel(image, "RGBa")
            out = mapped(pixels, "RGBa")
            self._fast.resize_pil(source, out, self._options)
            if mode == "RGBa":
                return out, pixels
        return mapped(pixels, mode), pixels


def mapped(pixels: np.ndarray, mode: str) -> Image.Image:
    """A Pillow picture of `mode` (four bytes a pixel) lying in a C-contiguous, writable uint8 h×w×4
    array: Pillow's core maps the array's memory (as Image.frombuffer does for the modes it lists,
    RGBa not among them) and keeps the array alive. No copy is made."""
    core = Image.core.map_buffer(pixels, (pixels.shape[1], pixels.shape[0]), "raw", 0, (mode, 0, 1))
    return Image.Image()._new(core)


def _relabel(image: Image.Image, mode: str) -> Image.Image:
    """The same four bytes a pixel under another 4-band mode (one copy)."""
    return Image.frombytes(mode, image.size, image.tobytes("raw", image.mode), "raw", mode)


# -- the same arithmetic in NumPy --------------------------------------------------------------------
def _weights(n_in: int, n_out: int) -> tuple[list[int], list[list[float]]]:
    """Per output pixel, the first input pixel it reads and the normalised triangle weights from there:
    fast_image_resize's `precompute_coefficients` (leading and trailing zero weights dropped)."""
    scale = n_in / n_out
    widen = max(scale, 1.0)
    radius, inverse = widen, 1.0 / widen  # the triangle's support is 1
    starts, weights = [], []
    for o in range(n_out):
        centre = (o + 0.5) * scale
        lo = int(max(math.floor(centre - radius), 0.0))
        hi = int(min(math.ceil(centre + radius), float(n_in)))
        first, ws = lo, []
        for x in range(lo, hi):
            t = abs((x - (centre - 0.5)) * inverse)
            w = 1.0 - t if t < 1.0 else 0.0
            if x == first and w == 0.0:
                first += 1
            else:
                ws.append(w)
        total = sum(ws)  # left to right from 0, as the Rust loop adds them
        last = hi
        for w in reversed(ws):
            if last <= first or w != 0.0:
                break
            last -= 1
        if total != 0.0:
            ws = [w / total for w in ws]
        starts.append(first)
        weights.append(ws[:last - first])
    return starts, weights


def _round_half_away(v: float) -> int:
    """Rust's f64::round: halves away from zero (Python's round() takes them to even)."""
    whole = math.floor(abs(v))
    whole += abs(v) - whole >= 0.5
    return int(whole) if v >= 0 else -int(whole)


def _fixed_point(weights: list[list[float]]) -> tuple[int, np.ndarray]:
    """(precision, int32 weights padded to one window): the largest precision at which the largest
    weight still fits in int16 after one more bit, as fast_image_resize's Normalizer16 picks it."""
    biggest = max((w for ws in weights for w in ws), default=0.0)
    precision = 0
    for bits in range(_MAX_PRECISION):
        precision = bits
        if _round_half_away(biggest * (1 << (bits + 1))) >= (1 << _COEFF_BITS):
            break
    window = max(len(ws) for ws in weights)
    table = np.zeros((len(weights), window), np.int32)
    for o, ws in enumerate(weights):
        table[o, :len(ws)] = [_round_half_away(w * (1 << precision)) for w in ws]
    return precision, table


@lru_cache(maxsize=1024)
def _pass(n_in: int, n_out: int) -> tuple[list[int], int, np.ndarray, int, int]:
    """One axis's pass, made once per (n_in, n_out): the first pixel each output reads, the
    precision and weights, and the span [first, last) of input pixels read at all."""
    starts, weights = _weights(n_in, n_out)
    precision, table = _fixed_point(weights)
    return starts, precision, table, starts[0], starts[-1] + len(weights[-1])


def _convolve(src: np.ndarray, axis: int, n_in: int, n_out: int, shift: int = 0) -> np.ndarray:
    """One pass over `src` (whose pixels along `axis` start `shift` pixels into the n_in of the plan)."""
    starts, precision, table, _, _ = _pass(n_in, n_out)
    starts = [s - shift for s in starts]
    n_in = src.shape[axis]
    shape = list(src.shape)
    shape[axis] = len(starts)
    acc = np.full(shape, 1 << (precision - 1), np.int32)
    along = [1] * src.ndim
    along[axis] = len(starts)
    first = np.asarray(starts)
    for j in range(table.shape[1]):
        taken = np.take(src, np.minimum(first + j, n_in - 1), axis=axis).astype(np.int32)  # past the end: weight 0
        acc += taken * table[:, j].reshape(along)
    return np.clip(acc >> precision, 0, 255).astype(np.uint8)


def resize_bands(pixels: np.ndarray, w: int, h: int) -> np.ndarray:
    """uint8 H×W×C → h×w×C, each band on its own, by the arithmetic the module's docstring gives."""
    src_h, src_w = pixels.shape[:2]
    if (w, h) == (src_w, src_h):
        return pixels.copy()
    if w == src_w:
        return _convolve(pixels, 0, src_h, h)
    if h == src_h:
        return _convolve(pixels, 1, src_w, w)
    _, _, _, x0, x1 = _pass(src_w, w)
    tall = _convolve(pixels[:, x0:x1], 0, src_h, h)  # the vertical pass first, over the columns read
    return _convolve(tall, 1, src_w, w, shift=x0)
