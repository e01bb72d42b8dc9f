"""The deterministic plan: sample ids, placements, splits and shard ranges.

Sample ids enumerate (bg, fg, flip, k) with k varying fastest. Every random choice for a sample
comes from a generator seeded by (seed, sample_id), so any sample can be made alone, anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import FgBgError

SPLIT_MODES = ("sample", "background", "foreground")
MIN_AREA, MAX_AREA = 0.3, 0.6  # fraction of the frame the foreground box covers
AREA_JITTER = 0.1  # how far the area may stray from the value its height implies
DEFAULT_SHARD_ROWS = 2000
SHARD_BYTES_BUDGET = 400_000_000  # stay well under the Hub's 500 MB per shard


@dataclass(frozen=True)
class Placement:
    """Where one foreground lands, as fractions of the frame (resolution independent)."""

    x: float
    y: float
    w: float
    h: float

    def box(self, res: int) -> tuple[int, int, int, int]:
        """The pixel box (x, y, w, h) at a square resolution, always inside the frame."""
        w = min(res, max(1, round(self.w * res)))
        h = min(res, max(1, round(self.h * res)))
        x = min(res - w, max(0, round(self.x * res)))
        y = min(res - h, max(0, round(self.y * res)))
        return x, y, w, h


def place_foreground(seed: int, sample_id: int, aspect: float) -> Placement:
    """The seed's recipe: a random spot, and an area in [0.3, 0.6] of the frame that grows toward
    the bottom (nearer objects look bigger). `aspect` is the cut-out's width / height."""
    return place_with(np.random.default_rng([seed, sample_id]), aspect)


def place_with(rng: np.random.Generator, aspect: float) -> Placement:
    """`place_foreground`'s rule with the next three draws of `rng` (a scene's other objects)."""
    depth_t, jitter, across = (float(v) for v in rng.random(3))
    t = min(1.0, max(0.0, depth_t + (2.0 * jitter - 1.0) * AREA_JITTER))
    area = MIN_AREA + (MAX_AREA - MIN_AREA) * t
    h = math.sqrt(area / aspect)
    w = aspect * h
    shrink = max(w, h, 1.0)  # a very wide or tall cut-out cannot reach the area inside the frame
    w, h = w / shrink, h / shrink
    return Placement(x=across * (1.0 - w), y=depth_t * (1.0 - h), w=w, h=h)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed, platform-independent hash of uint64 values."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class ShardSpec:
    split: str
    index: int
    count: int
    start: int  # position in the split's sorted id list
    stop: int

    @property
    def filename(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.count:05d}.parquet"

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def batches(self, size: int) -> list[tuple[int, int, int]]:
        """(part, start, stop) positions of the shard's batches: every `size` rows from its start.
        Every engine cuts here, so a model sees the same batches whoever feeds it."""
        return [(part, start, min(start + size, self.stop))
                for part, start in enumerate(range(self.start, self.stop, size))]


@dataclass(frozen=True)
class Plan:
    n_backgrounds: int
    n_foregrounds: int
    placements: int = 20
    seed: int = 0
    test_fraction: float = 0.3
    split_by: str = "sample"
    shard_rows: int = DEFAULT_SHARD_ROWS

    def __post_init__(self):
        if self.placements < 1:
            raise FgBgError("--placements must be at least 1")
        if not 0.0 <= self.test_fraction < 1.0:
            raise FgBgError("--test-fraction must be in [0, 1)")
        if self.split_by not in SPLIT_MODES:
            raise FgBgError(f"--split-by must be one of {', '.join(SPLIT_MODES)}")
        if self.shard_rows < 1:
            raise FgBgError("shard rows must be at least 1")
        if self.split_by != "sample" and self.test_fraction > 0 and self._units() < 2:
            raise FgBgError(f"cannot split a single {self.split_by} into train and test; "
                            "add inputs or use --split-by sample")

    @property
    def n_samples(self) -> int:
        return self.n_backgrounds * self.n_foregrounds * 2 * self.placements

    def sample_id(self, bg, fg, flip, k):
        return ((bg * self.n_foregrounds + fg) * 2 + flip) * self.placements + k

    def decode(self, ids):
        """ids → (bg, fg, flip, k); works on ints and integer arrays."""
        rest, k = divmod(ids, self.placements)
        rest, flip = divmod(rest, 2)
        bg, fg = divmod(rest, self.n_foregrounds)
        return bg, fg, flip, k

    def _units(self) -> int:
        return {"sample": self.n_samples, "background": self.n_backgrounds,
                "foreground": self.n_foregrounds}[self.split_by]

    @cached_property
    def _test_units(self) -> np.ndarray:
        """Boolean per unit (sample, background or foreground): True where it belongs to test.
        Exactly round(fraction × units) units, the ones whose seeded hash ranks lowest."""
        n = self._units()
        n_test = round(self.test_fraction * n)
        if self.split_by != "sample" and self.test_fraction > 0:
            n_test = min(n - 1, max(1, n_test))
        salt = np.uint64(SPLIT_MODES.index(self.split_by) + 1)
        key = _mix64(np.arange(n, dtype=np.uint64) ^ _mix64(np.array([self.seed], np.uint64) * salt))
        test = np.zeros(n, dtype=bool)
        test[np.argsort(key, kind="stable")[:n_test]] = True
        return test

    def is_test(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if self.split_by == "sample":
            unit = ids
        else:
            bg, fg, _, _ = self.decode(ids)
            unit = bg if self.split_by == "background" else fg
        return self._test_units[unit]

    @property
    def split_names(self) -> tuple[str, ...]:
        return ("train", "test") if self.test_fraction > 0 else ("train",)

    def split_ids(self, split: str) -> np.ndarray:
        return self._split_ids[split]

    @cached_property
    def _split_ids(self) -> dict[str, np.ndarray]:
        ids = np.arange(self.n_samples, dtype=np.int64)
        test = self.is_test(ids)
        return {"train": ids[~test], "test": ids[test]}

    def shards(self, split: str) -> list[ShardSpec]:
        n = len(self.split_ids(split))
        count = max(1, math.ceil(n / self.shard_rows))
        return [ShardSpec(split, i, count, i * self.shard_rows, min(n, (i + 1) * self.shard_rows))
                for i in range(count) if n > 0]

    def all_shards(self) -> list[ShardSpec]:
        return [s for split in self.split_names for s in self.shards(split)]


def shard_rows_for(size: int) -> int:
    """Rows per shard: the default, fewer for large frames so a shard stays under the budget.
    A row is budgeted at 6 bytes per output pixel, several times what the encoded images take."""
    return max(1, min(DEFAULT_SHARD_ROWS, SHARD_BYTES_BUDGET // (6 * size * size)))
