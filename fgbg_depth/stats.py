"""Per-channel mean and std, kept as exact integer sums so shards merge without rounding.

Images are stored as integers (uint8, or uint16 depth units), so Σv and Σv² over any number of
pixels are exact Python ints; merging is addition, and the order of shards cannot change a bit.
"""

from __future__ import annotations

import math

import numpy as np


def empty(channels: int) -> dict:
    return {"count": 0, "sum": [0] * channels, "sumsq": [0] * channels}


def add_pixels(acc: dict, arr: np.ndarray, weight: int = 1, skip_zero: bool = False) -> None:
    """Add an H×W or H×W×C integer image to `acc`, `weight` times (a background repeated n times)."""
    flat = arr.reshape(-1, 1 if arr.ndim == 2 else arr.shape[-1]).astype(np.int64)
    if skip_zero:  # depth 0 means unknown and is left out of the statistics
        flat = flat[flat[:, 0] != 0]
    acc["count"] += weight * flat.shape[0]
    sums = flat.sum(axis=0)
    sumsqs = np.einsum("ij,ij->j", flat, flat)
    for c in range(flat.shape[1]):
        acc["sum"][c] += weight * int(sums[c])
        acc["sumsq"][c] += weight * int(sumsqs[c])


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
