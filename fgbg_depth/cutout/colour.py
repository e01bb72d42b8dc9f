"""Foreground colours along soft edges, and the RGBA cut-out cropped to the object.

A photo's pixel where the object's alpha is between 0 and 1 mixes the object's colour with the wall
behind it: I = αF + (1 − α)B. Pasting the photo's colours with that alpha onto another background
carries the old wall along (a green fringe from a green wall). `estimate_foreground` recovers F by the
blur-fusion estimate of Forte & Pitié, "Approximate fast foreground colour estimation" (ICIP 2021): F
and B are taken as the α- and (1 − α)-weighted means of their neighbourhoods, and the part of the
photo those means do not explain is added to F in proportion to α. A wide pass finds the colours, a
narrow one, fed with the wide one's F and B̄, puts them in place.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

FUSION_RADII = (90, 6)  # box radii of the two passes (windows of 181 and 13 pixels)
CUMSUM_BLOCK = 1 << 21  # values per block of float64 running sums in `box_mean` (16 MB)


def box_mean(plane: np.ndarray, radius: int, out: np.ndarray | None = None) -> np.ndarray:
    """float32 H×W → the mean of each pixel's (2r+1)² window, over the part of the window inside the frame.

    Running sums make it O(pixels) for any radius. They are kept in float64, a block of lines at a time:
    a float32 running sum over thousands of pixels loses the small windows' values. A window holding
    only zeros gets exactly 0.
    """
    down = _box_mean_down(plane, radius, np.empty(plane.shape, np.float32))
    return _box_mean_across(down, radius, np.empty(plane.shape, np.float32) if out is None else out)


def _inverse_counts(n: int, r: int) -> np.ndarray:
    index = np.arange(n)
    return 1.0 / (np.minimum(index + r + 1, n) - np.maximum(index - r, 0))


def _box_mean_down(plane: np.ndarray, radius: int, out: np.ndarray) -> np.ndarray:
    """Window means along axis 0, by blocks of columns; the running sum goes row by row (one NumPy call
    per row of a block), which is several times quicker than a strided cumsum down the columns."""
    n, width = plane.shape
    r = min(radius, n - 1)  # a wider window is the whole column
    inverse = _inverse_counts(n, r)[:, None]
    columns = max(1, min(width, CUMSUM_BLOCK // (n + 2 * r + 1)))
    # running sums S with r zeros before them and r copies of the total after them, so that every
    # window, clipped at the frame or not, is S[i + 2r + 1] - S[i]
    sums = np.zeros((n + 2 * r + 1, columns), np.float64)
    window = np.empty((n, columns), np.float64)
    for start in range(0, width, columns):
        block = plane[:, start:start + columns]
        k = block.shape[1]
        for i in range(n):
            np.add(sums[r + i, :k], block[i], out=sums[r + i + 1, :k])
        sums[r + n + 1:, :k] = sums[r + n, :k]
        np.subtract(sums[2 * r + 1:, :k], sums[:n, :k], out=window[:, :k])
        np.multiply(window[:, :k], inverse, out=out[:, start:start + k], casting="same_kind")
    return out


def _box_mean_across(plane: np.ndarray, radius: int, out: np.ndarray) -> np.ndarray:
    """Window means along axis 1, by blocks of rows (a cumsum along each contiguous row)."""
    height, n = plane.shape
    r = min(radius, n - 1)
    inverse = _inverse_counts(n, r)[None, :]
    rows = max(1, min(height, CUMSUM_BLOCK // (n + 2 * r + 1)))
    sums = np.zeros((rows, n + 2 * r + 1), np.float64)
    window = np.empty((rows, n), np.float64)
    for start in range(0, height, rows):
        block = plane[start:start + rows]
        k = block.shape[0]
        np.cumsum(block, axis=1, dtype=np.float64, out=sums[:k, r + 1:r + 1 + n])
        sums[:k, r + n + 1:] = sums[:k, r + n:r + n + 1]
        np.subtract(sums[:k, 2 * r + 1:], sums[:k, :n], out=window[:k])
        np.multiply(window[:k], inverse, out=out[start:start + k], casting="same_kind")
    return out


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, radii: tuple[int, ...] = FUSION_RADII) -> np.ndarray:
    """uint8 H×W×3 photo and float alpha H×W in [0, 1] → uint8 H×W×3 foreground colours.

    Where α = 1 the photo's colour is kept exactly; elsewhere (α = 0 included, where nothing shows) the
    estimate, so later resizes of the cut-out blend only object colours. About 1 GB of work memory and a
    few seconds for a 12-MP photo.
    """
    image = np.asarray(image)
    alpha = np.asarray(alpha)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or alpha.shape != image.shape[:2]:
        raise ValueError(f"expected a uint8 H×W×3 photo and an H×W alpha, got {image.shape} {image.dtype} "
                         f"and {alpha.shape}")
    a = np.clip(alpha, 0, 1).astype(np.float32)
    not_a = 1 - a
    photo = np.empty((3, *a.shape), np.float32)  # channel planes: each is contiguous for the box filter
    for c in range(3):
        np.multiply(image[..., c], np.float32(1 / 255), out=photo[c])
    fg, bg = photo.copy(), photo.copy()
    fg_mean, bg_mean, residual, scratch = (np.empty(a.shape, np.float32) for _ in range(4))
    for pass_index, radius in enumerate(radii):
        last_pass = pass_index == len(radii) - 1
        a_mean, not_a_mean = box_mean(a, radius), box_mean(not_a, radius)
        a_empty, not_a_empty = a_mean <= 0, not_a_mean <= 0
        for c in range(3):
            _weighted_mean(fg[c], a, a_mean, a_empty, radius, photo[c], scratch, out=fg_mean)
            _weighted_mean(bg[c], not_a, not_a_mean, not_a_empty, radius, photo[c], scratch, out=bg_mean)
            # F = F̄ + α(I − αF̄ − (1 − α)B̄): what the means leave of the photo goes to F in proportion to α
            np.multiply(a, fg_mean, out=residual)
            np.subtract(photo[c], residual, out=residual)
            np.multiply(not_a, bg_mean, out=scratch)
            residual -= scratch
            residual *= a
            np.add(fg_mean, residual, out=fg[c])
            np.clip(fg[c], 0, 1, out=fg[c])
            if not last_pass:
                np.copyto(bg[c], bg_mean)  # the next pass's background is this pass's B̄, as in the paper
    del bg, photo, fg_mean, bg_mean, residual, scratch
    opaque = a >= 1
    out = np.empty(image.shape, np.uint8)
    for c in range(3):
        fg[c] *= 255
        np.rint(fg[c], out=fg[c])
        out[..., c] = fg[c]
    np.copyto(out, image, where=opaque[..., None])
    return out


def _weighted_mean(values: np.ndarray, weight: np.ndarray, weight_mean: np.ndarray, no_weight: np.ndarray,
                   radius: int, fallback: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Box mean of `values` weighted by `weight` into `out`; `fallback` where the window holds no weight."""
    np.multiply(values, weight, out=scratch)
    box_mean(scratch, radius, out=out)
    np.divide(out, weight_mean, out=out, where=~no_weight)
    np.copyto(out, fallback, where=no_weight)
    return out


def cutout_rgba(image: np.ndarray, prob: np.ndarray, margin: float = 0.02, min_margin: int = 2,
                radii: tuple[int, ...] = FUSION_RADII) -> tuple[Image.Image, tuple[int, int, int, int]] | None:
    """The RGBA cut-out of a photo and its box (x0, y0, x1, y1) in the photo, x1 and y1 exclusive.

    Alpha is round(p × 255); the colours come from `estimate_foreground` with that alpha. The box is the
    one of alpha > 0 widened by `margin` of its longer side (at least `min_margin` pixels), clipped to the
    photo. Returns None when no pixel has alpha > 0: there is nothing to cut out.
    """
    image = np.asarray(image)
    prob = np.asarray(prob)
    if prob.shape != image.shape[:2]:
        raise ValueError(f"probabilities {prob.shape} do not match the photo {image.shape}")
    alpha = np.rint(np.clip(prob, 0, 1) * 255).astype(np.uint8)
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.any(axis=0))
    h, w = alpha.shape
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    pad = max(min_margin, math.ceil(margin * max(x1 - x0, y1 - y0)))
    box = (max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad))
    # The estimate at a pixel reads the photo up to sum(radii) pixels away, so it is made on the box
    # widened by that much (or to the frame): inside the box it is the whole photo's estimate.
    reach = sum(radii)
    wx0, wy0 = max(0, box[0] - reach), max(0, box[1] - reach)
    wx1, wy1 = min(w, box[2] + reach), min(h, box[3] + reach)
    region_alpha = alpha[wy0:wy1, wx0:wx1]
    colours = estimate_foreground(image[wy0:wy1, wx0:wx1], region_alpha.astype(np.float32) / 255, radii)
    inner = (slice(box[1] - wy0, box[3] - wy0), slice(box[0] - wx0, box[2] - wx0))
    rgba = np.dstack([colours[inner], region_alpha[inner]])
    return Image.fromarray(rgba), box
