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


def placement_boxes(seed: int, ids, aspects, res: int) -> np.ndarray | None:
    """`place_foreground(seed, i, a).box(res)` for many samples at once (n×4 int64: x, y, w, h): the
    same rule on arrays of a shard's draws, element by element the same float64 arithmetic (NumPy's
    rint rounds halves to even, as Python's round does), so the same boxes, at well under a
    microsecond a sample against ~11 for a Placement each. None where `first_uniforms` is."""
    draws = first_uniforms(seed, ids, 3)
    if draws is None:
        return None
    depth_t, jitter, across = draws.T
    aspect = np.asarray(aspects, dtype=np.float64)
    t = np.minimum(1.0, np.maximum(0.0, depth_t + (2.0 * jitter - 1.0) * AREA_JITTER))
    area = MIN_AREA + (MAX_AREA - MIN_AREA) * t
    h = np.sqrt(area / aspect)
    w = aspect * h
    shrink = np.maximum(np.maximum(w, h), 1.0)
    w, h = w / shrink, h / shrink
    x, y = across * (1.0 - w), depth_t * (1.0 - h)
    box_w = np.minimum(res, np.maximum(1, np.rint(w * res).astype(np.int64)))
    box_h = np.minimum(res, np.maximum(1, np.rint(h * res).astype(np.int64)))
    box_x = np.minimum(res - box_w, np.maximum(0, np.rint(x * res).astype(np.int64)))
    box_y = np.minimum(res - box_h, np.maximum(0, np.rint(y * res).astype(np.int64)))
    return np.stack([box_x, box_y, box_w, box_h], axis=1)


# -- a sample's first uniform draws, for many samples at once ----------------------------------------
# place_foreground draws three numbers from np.random.default_rng([seed, sample_id]): SeedSequence
# hashes the two ints' 32-bit words into a pool of four and draws PCG64's 128-bit state and increment
# from it; PCG64 (XSL-RR) steps and outputs 64 bits, and a double is its top 53 bits / 2**53. Made
# per sample, that generator costs ~16 µs (Python objects); the same arithmetic on arrays of a
# shard's ids costs well under 1 µs a sample and gives the same doubles (tests/test_speed_compose.py).
_HASH_INIT_A, _HASH_MULT_A, _HASH_INIT_B, _HASH_MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT_HIGH, _PCG_MULT_LOW = np.uint64(2549297995355413924), np.uint64(4865540595714422341)
_LOW32, _U64_32, _U32_16 = np.uint64(0xFFFFFFFF), np.uint64(32), np.uint32(16)


def _uint32_words(n: int) -> list[int]:
    """A non-negative int as SeedSequence reads it: its 32-bit words, least significant first."""
    words = [n & 0xFFFFFFFF]
    while n >> 32:
        n >>= 32
        words.append(n & 0xFFFFFFFF)
    return words


def _mul_high(a: np.ndarray, b: np.uint64) -> np.ndarray:
    """The high 64 bits of a × b (uint64), from 32-bit halves."""
    a0, a1, b0, b1 = a & _LOW32, a >> _U64_32, b & _LOW32, b >> _U64_32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _U64_32) + (p01 & _LOW32) + (p10 & _LOW32)
    return p11 + (p01 >> _U64_32) + (p10 >> _U64_32) + (mid >> _U64_32)


def _add128(a_high, a_low, b_high, b_low):
    low = a_low + b_low
    return a_high + b_high + (low < a_low).astype(np.uint64), low


def _pcg_step(high, low, inc_high, inc_low):
    """PCG64's step: state · multiplier + increment, modulo 2**128."""
    product_high = _mul_high(low, _PCG_MULT_LOW) + low * _PCG_MULT_HIGH + high * _PCG_MULT_LOW
    return _add128(product_high, low * _PCG_MULT_LOW, inc_high, inc_low)


def first_uniforms(seed: int, ids, count: int) -> np.ndarray | None:
    """`np.random.default_rng([seed, i]).random(count)` for every i in `ids` (len(ids) × count), or
    None where an id or the seed is outside what this form covers (negative, or an id of 2**32 or
    more: one 32-bit word each is assumed)."""
    ids = np.asarray(ids, dtype=np.int64)
    if seed < 0 or (ids.size and (ids.min() < 0 or ids.max() >= 2 ** 32)):
        return None
    n = len(ids)
    entropy = [np.full(n, w, np.uint32) for w in _uint32_words(seed)] + [ids.astype(np.uint32)]
    hash_const = _HASH_INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hash_const
        value = value ^ np.uint32(hash_const)
        hash_const = hash_const * _HASH_MULT_A & 0xFFFFFFFF
        value = value * np.uint32(hash_const)
        return value ^ (value >> _U32_16)

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.uint32(_MIX_MULT_L) * x - np.uint32(_MIX_MULT_R) * y
        return result ^ (result >> _U32_16)

    with np.errstate(over="ignore"):
        pool = [hashmix(entropy[i] if i < len(entropy) else np.zeros(n, np.uint32)) for i in range(4)]
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        for src in range(4, len(entropy)):
            for dst in range(4):
                pool[dst] = mix(pool[dst], hashmix(entropy[src]))
        words, hash_const = [], _HASH_INIT_B
        for i in range(8):  # generate_state(4, uint64): eight words, paired little-end first
            value = pool[i % 4] ^ np.uint32(hash_const)
            hash_const = hash_const * _HASH_MULT_B & 0xFFFFFFFF
            value = value * np.uint32(hash_const)
            words.append((value ^ (value >> _U32_16)).astype(np.uint64))
        seed_high, seed_low, seq_high, seq_low = (words[2 * j] | (words[2 * j + 1] << _U64_32) for j in range(4))
        inc_high = (seq_high << np.uint64(1)) | (seq_low >> np.uint64(63))
        inc_low = (seq_low << np.uint64(1)) | np.uint64(1)
        # srandom: from state 0, step, add the seed, step
        high, low = _pcg_step(*_add128(inc_high, inc_low, seed_high, seed_low), inc_high, inc_low)
        out = np.empty((n, count))
        for j in range(count):
            high, low = _pcg_step(high, low, inc_high, inc_low)
            folded, rotation = high ^ low, high >> np.uint64(58)
            bits = (folded >> rotation) | (folded << ((np.uint64(64) - rotation) & np.uint64(63)))
            out[:, j] = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return out


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
