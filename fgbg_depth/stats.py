"""Per-channel mean and std, kept as exact integer sums so shards merge without rounding.

Images are stored as integers (uint8, or uint16 depth units), so Σv and Σv² over any number of
pixels are exact Python ints; merging is addition, and the order of shards cannot change a bit.
`split_stats` turns the shards' sums into the card's `channel_stats`, for `generate` and `verify` alike.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .contract import DEPTH_SCALE, VALUE_UNITS, image_columns


def empty(channels: int) -> dict:
    return {"count": 0, "sum": [0] * channels, "sumsq": [0] * channels}


def add_histogram(hist: np.ndarray, arr: np.ndarray, weight: int = 1) -> None:
    """Add a uint8 H×W or H×W×C image to per-channel value counts `hist` (C×256, int64)."""
    channels = 1 if arr.ndim == 2 else arr.shape[-1]
    for c in range(channels):
        plane = arr if arr.ndim == 2 else arr[..., c]
        hist[c] += weight * np.bincount(plane.ravel(), minlength=256)


def add_rgbx_histogram(hist: np.ndarray, rgbx: np.ndarray) -> None:
    """`add_histogram` of the RGB of contiguous uint8 pictures of 4-byte pixels (…×W×4, the fourth
    byte not counted), counted by Pillow in C over the memory as it lies: one call for them all."""
    rows = rgbx.size // (rgbx.shape[-2] * 4)
    counts = Image.frombuffer("RGBX", (rgbx.shape[-2], rows), rgbx, "raw", "RGBX", 0, 1).histogram()
    hist += np.asarray(counts[:768], dtype=np.int64).reshape(3, 256)


def add_binary_mask(hist: np.ndarray, mask: np.ndarray, on: int | None = None) -> None:
    """`add_histogram` for a mask known to hold only 0 and 255; `on`, its count of 255s if known."""
    on = int(np.count_nonzero(mask)) if on is None else on
    hist[0, 255] += on
    hist[0, 0] += mask.size - on


def from_histogram(hist: np.ndarray) -> dict:
    """Count, Σv and Σv² per channel from value counts: exact integers, as every accumulator keeps."""
    values = np.arange(hist.shape[1], dtype=np.int64)
    return {"count": int(hist[0].sum()), "sum": [int(h @ values) for h in hist],
            "sumsq": [int(h @ (values * values)) for h in hist]}


EXACT_IN_FLOAT64 = 2 ** 53 // 65535 ** 2  # values of uint16 whose sum of squares a float64 holds exactly


DEPTH_RUN = 1 << 16  # values summed at a time: 512 KB of float64, in cache; exact, being below EXACT_IN_FLOAT64
DOT_RUN = 8192  # values per BLAS dot: OpenBLAS's dot stays on the calling thread up to 10,000


def add_depth(acc: dict, depth: np.ndarray) -> None:
    """Add uint16 depth (one map or a stack of them); zeros (unknown) add nothing to the sums and are
    not counted. Sums of integers below 2**53 are exact in float64 whatever the order of addition, so
    the values are summed there, DEPTH_RUN at a time (a batch in one call: per-map calls cost more
    than the sums at small sizes, and a whole batch in float64 would not stay in cache). Σv² is
    BLAS's dot on rows of DOT_RUN values, all of a run's rows in one call (np.vecdot, NumPy 2; a
    call per row before it): about three times as fast as einsum's loop, and on rows that short
    OpenBLAS does not wake its thread pool (which for a longer dot costs more than the sum, ~130 µs
    of CPU at 160 px, and then spins on another core)."""
    flat = np.asarray(depth).ravel()
    acc["count"] += int(np.count_nonzero(flat))
    wide = np.empty(min(flat.size, DEPTH_RUN), np.float64)
    for start in range(0, flat.size, DEPTH_RUN):
        part = wide[:min(DEPTH_RUN, flat.size - start)]
        np.copyto(part, flat[start:start + DEPTH_RUN])
        acc["sum"][0] += int(part.sum())
        acc["sumsq"][0] += _sum_of_squares(part)


def _sum_of_squares(part: np.ndarray) -> int:
    """Σv² of float64 integers (exact: every partial sum stays below 2**53), by dots of DOT_RUN values."""
    whole = part.size - part.size % DOT_RUN
    total = 0
    if whole and hasattr(np, "vecdot"):
        rows = part[:whole].reshape(-1, DOT_RUN)
        total, part = int(np.vecdot(rows, rows).sum()), part[whole:]
    return total + sum(int(np.dot(piece, piece)) for piece in (part[i:i + DOT_RUN] for i in range(0, part.size, DOT_RUN)))


def merge(a: dict, b: dict) -> dict:
    return {"count": a["count"] + b["count"],
            "sum": [x + y for x, y in zip(a["sum"], b["sum"])],
            "sumsq": [x + y for x, y in zip(a["sumsq"], b["sumsq"])]}


def finalize(acc: dict, unit: float) -> dict:
    """Mean and population std of value × unit, per channel."""
    n = acc["count"]
    if n == 0:
        return {"mean": None, "std": None, "count": 0}
    means, stds = [], []
    for s, q in zip(acc["sum"], acc["sumsq"]):
        var_num = n * q - s * s  # exact: n² · variance in stored units
        means.append(s / n * unit)
        stds.append(math.sqrt(max(var_num, 0)) / n * unit)
    return {"mean": means, "std": stds, "count": n}


def split_stats(results: list[dict], with_depth: bool, depth_scale: float = DEPTH_SCALE) -> dict:
    """Merge shard sums ({"split", "index", "stats"} per shard) in shard order and turn them into
    mean/std of the decoded values (images in [0, 1], depth in metres: units × depth_scale)."""
    units = {**VALUE_UNITS, "depth": depth_scale}
    out: dict = {}
    for split in sorted({r["split"] for r in results}, key=["train", "test"].index):
        merged: dict = {}
        for r in sorted((r for r in results if r["split"] == split), key=lambda r: r["index"]):
            for col, acc in r["stats"].items():
                merged[col] = merge(merged[col], acc) if col in merged else acc
        out[split] = {col: finalize(merged[col], units[col]) for col in image_columns(with_depth)}
        out[split].update({col: finalize(merged[col], units[col]) for col in ("alpha", "instances")
                           if col in merged})
    return out
