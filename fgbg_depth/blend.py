"""Blend modes: how a cut-out goes into the frame. Pure functions, one per mode.

Each mode turns the cut-out at its box into a `Layer` that Pillow then pastes through its weight
(integer arithmetic): so the composite always equals alpha·object + (1 − alpha)·background, with
`alpha` the weight the object actually got, and pixels where alpha is 0 keep the background
exactly. Following Dwibedi et al., "Cut, Paste and Learn" (ICCV 2017):

- `none`: the cut-out as it is.
- `gaussian`: its alpha feathered by a Gaussian (σ of 1–2 px at the output size); the object keeps
  its sharp colours, and the widened fringe takes its own edge colours (compose.bleed_colours).
- `motion`: object and alpha smeared along a short random line (3–7 px): the mean of whole-pixel
  shifted copies of the premultiplied patch, composited premultiplied (BLEND_VERSION 2; version 1,
  before 2026-12, averaged in floats and divided the colours back).
- `poisson`: the object's colours solved for so that their gradients are the cut-out's and their
  border meets the frame underneath (Pérez et al., "Poisson Image Editing", 2003, the seamless
  cloning of OpenCV's `seamlessClone`): a DST solve of the Poisson equation over the box grown by a
  margin (edge-extended past the frame), through `scipy.fft`. Its alpha is the cut-out's, so the
  silhouette stays where it was. As in any seamless cloning the object's colours drift toward the
  background's (strongly where the two differ a lot, and on thin parts): it hides the seam at the
  cost of the object's own colours, which is why `mixed` uses it for a quarter of the samples.

A mode's random parameters come from the sample's own generator stream (`draw_blend`), so they are
the same at every resolution a sample is composited at; sizes in pixels scale with the resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from .errors import FgBgError

MODES = ("none", "gaussian", "poisson", "motion")
# a mode's bytes change only with a new version here; the recipe (and so the fingerprint) names it,
# so a folder written by an earlier version is refused on resume instead of mixing the two
BLEND_VERSION = {"motion": 2}
CHOICES = (*MODES, "mixed")
BLEND_STREAM = 1  # generator stream of a sample's blend: default_rng([seed, sample_id, BLEND_STREAM])
SIGMA_PX = (1.0, 2.0)  # gaussian σ at the output size
MOTION_PX = (3.0, 7.0)  # motion blur length at the output size
POISSON_MARGIN = 2  # pixels of frame around the box that the Poisson solve may adjust


@dataclass(frozen=True)
class Blend:
    """One sample's blend: the mode and its parameters (sizes in pixels at the output size)."""

    mode: str = "none"
    sigma: float = 0.0
    length: float = 0.0
    angle: float = 0.0


def draw_blend(option: str, seed: int, sample_id: int) -> Blend:
    """The blend of a sample under `--blend option`; `mixed` picks one mode per sample. Every
    parameter is drawn whatever the mode, so the draws never depend on it."""
    rng = np.random.default_rng([seed, sample_id, BLEND_STREAM])
    pick, sigma, length, angle = (float(v) for v in rng.random(4))
    mode = MODES[min(int(pick * len(MODES)), len(MODES) - 1)] if option == "mixed" else option
    return Blend(mode, SIGMA_PX[0] + (SIGMA_PX[1] - SIGMA_PX[0]) * sigma,
                 MOTION_PX[0] + (MOTION_PX[1] - MOTION_PX[0]) * length, math.pi * angle)


def check_blend(option: str) -> None:
    if option not in CHOICES:
        raise FgBgError(f"unknown --blend '{option}'; choose {', '.join(CHOICES)}")
    if option in ("poisson", "mixed"):
        try:
            import scipy.fft  # noqa: F401
        except ImportError:
            raise FgBgError(f"--blend {option} needs SciPy for its Poisson solve: pip install "
                            "'fgbg-depth[blend]' (or pip install scipy)") from None


@dataclass
class Layer:
    """A blended object as Pillow pastes it at (x, y): `colour` through `weight` (L, the alpha the
    object gets), or with weight None through its own fourth band: RGBA (straight colours), or RGBa
    (premultiplied: already weight·object), which Pillow composites as frame·(1 − weight) + colour,
    the "over" operator on premultiplied colours, so no colour is ever divided back by its weight."""

    colour: Image.Image
    weight: Image.Image | None
    x: int
    y: int

    def paste_onto(self, canvas: Image.Image) -> None:
        """Composite onto `canvas` (RGB) in place, clipped at the frame."""
        canvas.paste(self.colour, (self.x, self.y), self.colour if self.weight is None else self.weight)

    def alpha(self) -> Image.Image:
        return self.colour.getchannel(3) if self.weight is None else self.weight


# which cut-out each mode starts from (stages.composite.Compositor.compose makes it): premultiplied (RGBa,
# as the default path pastes it), or with its colours carried past the silhouette (RGBX, alpha the
# fourth band)
CUTOUT_KIND = {"none": "premultiplied", "gaussian": "bled", "poisson": "bled", "motion": "premultiplied"}


def apply_blend(blend: Blend, cut: Image.Image, x: int, y: int, canvas: Image.Image, scale: float) -> Layer:
    """The layer to paste for the cut-out `cut` (of kind CUTOUT_KIND[blend.mode]) whose box is at
    (x, y) on `canvas` (the frame so far, res×res RGB); `scale` = res / output size."""
    if blend.mode == "none":
        return Layer(cut, None, x, y)
    if blend.mode == "gaussian":
        return feather(cut, x, y, blend.sigma * scale)
    if blend.mode == "motion":
        return motion_blur(np.asarray(cut), x, y, blend.length * scale, blend.angle)
    if blend.mode == "poisson":
        return Layer(Image.fromarray(poisson_recolour(np.asarray(cut), x, y, np.asarray(canvas)), "RGBA"), None, x, y)
    raise ValueError(f"unknown blend mode {blend.mode}")


def _padded(a: np.ndarray, pad: int, edge: bool) -> np.ndarray:
    """`a` (H×W or H×W×C) grown by `pad` on every side, with its edge pixels repeated or zeros:
    np.pad's result, without its per-call overhead (these patches are small)."""
    h, w = a.shape[:2]
    out = (np.empty if edge else np.zeros)((h + 2 * pad, w + 2 * pad, *a.shape[2:]), a.dtype)
    out[pad:pad + h, pad:pad + w] = a
    if edge:
        out[:pad, pad:pad + w] = a[:1]
        out[pad + h:, pad:pad + w] = a[-1:]
        out[:, :pad] = out[:, pad:pad + 1]
        out[:, pad + w:] = out[:, pad + w - 1:pad + w]
    return out


def feather(cut: Image.Image, x: int, y: int, sigma: float) -> Layer:
    """Gaussian feathering of the alpha of `cut` (RGBX: colours carried past the silhouette, alpha
    the fourth band): the alpha grown by 3σ and blurred (Pillow's GaussianBlur); the colours are the
    cut-out's own, edge-extended over the margin, so the widened fringe shows the object's edge
    colours and the object stays sharp. Every pixel of the object keeps some weight (≥ 1/255): the
    mask is the unblurred silhouette, and the alpha column must not be 0 where the mask says there
    is an object."""
    pad = max(2, 2 * math.ceil(1.5 * sigma))  # ≥ 3σ, and even: the blur runs at half resolution
    size = (cut.width + 2 * pad, cut.height + 2 * pad)
    grown = Image.new("L", size, 0)
    grown.paste(cut.getchannel(3), (pad, pad))
    # a blurred alpha is smooth: blurring it at half size (σ/2) and enlarging it again is the same
    # picture at a quarter of the work
    small = grown.reduce(2).filter(ImageFilter.GaussianBlur(sigma / 2))
    weight = small.resize(size, Image.Resampling.BILINEAR)
    weight = ImageChops.lighter(weight, ImageChops.darker(grown, Image.new("L", size, 1)))  # ≥ 1 on the object
    colours = _padded(np.asarray(cut), pad, edge=True)  # its fourth band is not read: the weight is the mask
    return Layer(Image.frombuffer("RGBA", size, colours, "raw", "RGBA", 0, 1), weight, x - pad, y - pad)


def motion_offsets(length: float, angle: float) -> list[tuple[int, int]]:
    """Whole-pixel steps (dx, dy) along a line of `length` pixels at `angle`, centred: one per pixel
    of length and one more, so a 3 px smear averages 4 copies and a 7 px one 8 (rounded half to even)."""
    n = math.ceil(length)
    cos, sin = math.cos(angle), math.sin(angle)
    ts = [length * (i / n - 0.5) for i in range(n + 1)]
    return [(round(t * cos), round(t * sin)) for t in ts]


def motion_blur(premultiplied: np.ndarray, x: int, y: int, length: float, angle: float) -> Layer:
    """Object and alpha smeared along a line: the mean of the premultiplied patch (uint8 h×w×4,
    Pillow's RGBa) shifted by every `motion_offsets` step, in integers (uint16 sums of ≤ 8 copies,
    rounded once), pasted premultiplied. The four bands stay interleaved: a shift moves every band
    alike, so each copy is one contiguous add over the flattened patch."""
    steps = motion_offsets(length, angle)
    n = len(steps)
    pad = max(max(abs(dx), abs(dy)) for dx, dy in steps)
    h, w = premultiplied.shape[:2]
    width, rows = w + 2 * pad, h + 2 * pad  # rows this wide leave a zero gap of 2·pad: a shift never wraps into the next row
    src = np.zeros((h, width, 4), np.uint16)
    src[:, :w] = premultiplied
    flat = src.reshape(-1)
    acc = np.zeros(4 * (rows * width + 2 * pad), np.uint16)
    for dx, dy in steps:
        start = 4 * ((pad + dy) * width + pad + dx)
        acc[start:start + flat.size] += flat
    acc = acc[:4 * rows * width]
    acc += n // 2
    acc //= n  # the mean, rounded: a premultiplied colour stays ≤ its weight, so where the weight is 0 so is the colour
    out = acc.astype(np.uint8).reshape(rows, width, 4)
    weight = out[pad:pad + h, pad:pad + w, 3]
    np.maximum(weight, (premultiplied[..., 3] > 0).view(np.uint8), out=weight)  # every object pixel keeps weight
    return Layer(Image.frombuffer("RGBa", (width, rows), out, "raw", "RGBa", 0, 1), None, x - pad, y - pad)


def _fast_side(n: int) -> int:
    """The smallest side ≥ n whose DST-I (of the n − 2 interior samples) is fast."""
    from scipy.fft import next_fast_len
    return next_fast_len(n - 1, real=True) + 1


def poisson_recolour(rgba: np.ndarray, x: int, y: int, canvas: np.ndarray) -> np.ndarray:
    """The cut-out with its colours replaced by the solution of Δf = Δ(object) on the object
    (alpha > 0) and Δf = Δ(canvas) around it, f = canvas on the border of the box grown by
    POISSON_MARGIN (the canvas edge-extended where that passes the frame). Alpha is kept.

    This is the rectangle formulation OpenCV's seamlessClone uses (its result and this one differ
    by about 9/255 on the bundled samples), not Pérez's pinning of f to the canvas right at the
    silhouette, which would need an iterative or sparse solve of 5-30× the cost."""
    h, w = rgba.shape[:2]
    m = POISSON_MARGIN
    side_h, side_w = _fast_side(h + 2 * m), _fast_side(w + 2 * m)
    top, left = y - m, x - m
    res_h, res_w = canvas.shape[:2]
    pads = ((max(0, -top), max(0, top + side_h - res_h)), (max(0, -left), max(0, left + side_w - res_w)), (0, 0))
    frame = np.pad(canvas, pads, mode="edge")
    oy, ox = top + pads[0][0], left + pads[1][0]
    g = frame[oy:oy + side_h, ox:ox + side_w].astype(np.float32)
    inside = rgba[..., 3] > 0
    # the source: the object's colours carried past its silhouette, and one pixel past its box (the
    # silhouette touches every side of it), so no background seam enters the guidance at its edge
    src = g.copy()
    src[m - 1:m + h + 1, m - 1:m + w + 1] = np.pad(rgba[..., :3], ((1, 1), (1, 1), (0, 0)), mode="edge")
    omega = np.zeros((side_h, side_w), bool)
    omega[m:m + h, m:m + w] = inside
    box = solve_poisson(g, src, omega)[m:m + h, m:m + w]
    out = rgba.copy()
    out[..., :3] = np.where(inside[..., None], np.clip(np.rint(box), 0, 255), rgba[..., :3]).astype(np.uint8)
    return out


def solve_poisson(g: np.ndarray, src: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """f on a rectangle (H×W×C, float32): Δf = Δsrc where `omega`, Δf = Δg elsewhere, f = g on the
    rectangle's border (5-point Laplacian). f = g + u with Δu = (Δsrc − Δg)·omega and u = 0 on the
    border, solved exactly in the sine basis (DST-I diagonalises that Laplacian)."""
    from scipy.fft import dstn, idstn
    side_h, side_w = g.shape[:2]
    rhs = (_laplacian(src) - _laplacian(g)) * omega[1:-1, 1:-1, None]
    ky = 2.0 * np.cos(np.pi * np.arange(1, side_h - 1) / (side_h - 1)) - 2.0
    kx = 2.0 * np.cos(np.pi * np.arange(1, side_w - 1) / (side_w - 1)) - 2.0
    u = idstn(dstn(rhs, type=1, axes=(0, 1)) / (ky[:, None, None] + kx[None, :, None]).astype(np.float32),
              type=1, axes=(0, 1))
    f = g.astype(np.float32).copy()
    f[1:-1, 1:-1] += u
    return f


def _laplacian(a: np.ndarray) -> np.ndarray:
    """The 5-point Laplacian at the interior pixels of an H×W×C array ((H−2)×(W−2)×C)."""
    return a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4.0 * a[1:-1, 1:-1]
