"""Make one shard: plan rows → compose → depth → encode → Parquet. The unit every engine runs."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from . import stats
from .assets import SourceFile, open_background, open_foreground
from .codecs import decode_jpeg, encode_jpeg, encode_png_gray
from .compose import fit_background, paste, reduce_foreground, resize_foreground
from .depth import get_backend
from .plan import Plan, ShardSpec, place_foreground
from .shards import schema, write_json_atomic, write_table_atomic

DEPTH_SCALE = 10.0 / 65535.0  # metres per stored unit: DenseDepth's 10 m range over 16 bits
# Depth is stored in steps of 64 units (9.8 mm): far finer than DenseDepth resolves (its NYU error is
# ~12% of the distance), coarse enough that the PNG stays small. metres = value × DEPTH_SCALE holds.
DEPTH_QUANTUM = 64
DEPTH_BATCH = 32
STATE_DIR = ".fgbg-depth"


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to make any shard of a run; small and picklable."""

    plan: Plan
    size: int
    backgrounds: tuple[SourceFile, ...]
    foregrounds: tuple[SourceFile, ...]
    depth: str  # planar | densedepth | none
    out: str
    fingerprint: str
    depth_options: dict = field(default_factory=dict)
    depth_scale: float = DEPTH_SCALE

    @property
    def with_depth(self) -> bool:
        return self.depth != "none"

    def shard_path(self, spec: ShardSpec) -> Path:
        return Path(self.out) / "data" / spec.filename

    def marker_path(self, spec: ShardSpec) -> Path:
        return Path(self.out) / STATE_DIR / "shards" / f"{spec.split}-{spec.index:05d}.json"

    def finished(self, spec: ShardSpec) -> dict | None:
        """The marker of a shard that is complete on disk for this job, else None."""
        try:
            marker = json.loads(self.marker_path(spec).read_text())
            size = self.shard_path(spec).stat().st_size
        except (OSError, ValueError):
            return None
        if marker.get("fingerprint") != self.fingerprint or marker.get("num_bytes") != size:
            return None
        return marker


def quantize_depth(metres: np.ndarray, scale: float, quantum: int = DEPTH_QUANTUM) -> np.ndarray:
    """Metres → uint16 units of `scale`, rounded to multiples of `quantum`; non-positive or
    non-finite depth becomes 0 (unknown)."""
    valid = np.isfinite(metres) & (metres > 0)
    top = 65535 // quantum * quantum
    steps = np.rint(np.where(valid, metres, 0) / (scale * quantum))
    q = np.clip(steps * quantum, quantum, top).astype(np.uint16)
    return np.where(valid, q, 0).astype(np.uint16)


def resize_depth(depth: np.ndarray, size: int) -> np.ndarray:
    if depth.shape == (size, size):
        return depth
    return np.asarray(Image.fromarray(depth.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR))


class ShardWorker:
    """Holds decoded inputs and caches for one process; `make(spec)` writes one shard."""

    def __init__(self, job: Job, backend=None, threads: int = 1):
        self.job = job
        self.backend = backend if backend is not None else get_backend(job.depth, **job.depth_options)
        # Pillow's resize and codecs release the GIL: threads help where one process feeds a GPU
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="compose") if threads > 1 else None
        self.stage_seconds: dict[str, float] = {}
        self._bg_pixels: dict[tuple[int, int], np.ndarray] = {}
        self._bg_jpeg: dict[int, bytes] = {}
        self._fg: dict[int, Image.Image] = {}
        self._fg_reduced: dict[tuple[int, int, bool], Image.Image] = {}

    # -- inputs, each decoded once per process ------------------------------------------------
    def background(self, bg_id: int, res: int) -> np.ndarray:
        key = (bg_id, res)
        if key not in self._bg_pixels:
            self._bg_pixels[key] = fit_background(open_background(self.job.backgrounds[bg_id].path), res)
        return self._bg_pixels[key]

    def background_jpeg(self, bg_id: int) -> bytes:
        if bg_id not in self._bg_jpeg:
            self._bg_jpeg[bg_id] = encode_jpeg(self.background(bg_id, self.job.size))
        return self._bg_jpeg[bg_id]

    def foreground(self, fg_id: int) -> Image.Image:
        if fg_id not in self._fg:
            self._fg[fg_id] = open_foreground(self.job.foregrounds[fg_id].path)
        return self._fg[fg_id]

    def foreground_for(self, fg_id: int, res: int, flip: bool) -> Image.Image:
        """The cut-out mirrored as asked and pre-reduced to fit a res×res frame, made once per process:
        every sample's resize then starts from a small picture (a mip level, in effect)."""
        key = (fg_id, res, flip)
        if key not in self._fg_reduced:
            self._fg_reduced[key] = reduce_foreground(self.foreground(fg_id), res, flip)
        return self._fg_reduced[key]

    # -- one sample ---------------------------------------------------------------------------
    def compose(self, sample_id: int, res: int):
        """Composite and mask of one sample at a square resolution, and its box there."""
        bg_id, fg_id, flip, _ = self.job.plan.decode(int(sample_id))
        fg = self.foreground(fg_id)
        placement = place_foreground(self.job.plan.seed, int(sample_id), fg.width / fg.height)
        x, y, w, h = placement.box(res)
        cutout = resize_foreground(self.foreground_for(fg_id, res, bool(flip)), w, h)
        composite, mask = paste(self.background(bg_id, res), cutout, x, y)
        return composite, mask, (x, y, w, h)

    def model_inputs(self, ids, made):
        """Composites and masks at the depth backend's input size (reusing the output-size ones when equal)."""
        size = self.job.size
        model_size = self.backend.input_size
        if model_size is None or tuple(model_size) == (size, size):
            return np.stack([m[0] for m in made]), np.stack([m[1] for m in made])
        if model_size[0] != model_size[1]:
            raise ValueError("depth backends with non-square inputs are not supported")
        big = self._map(lambda i: self.compose(i, model_size[0]), ids)
        return np.stack([b[0] for b in big]), np.stack([b[1] for b in big])

    def depth_units(self, images, masks) -> np.ndarray:
        """uint16 depth at the output size: predict, resize, quantise."""
        t0 = time.perf_counter()
        metres = self.backend.predict(images, masks)
        out = np.stack([quantize_depth(resize_depth(m, self.job.size), self.job.depth_scale) for m in metres])
        self._clock("depth", t0)
        return out

    def _clock(self, stage: str, t0: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.perf_counter() - t0

    def _map(self, fn, items):
        return list(self._threads.map(fn, items)) if self._threads else [fn(i) for i in items]

    # -- one shard ----------------------------------------------------------------------------
    def build(self, spec: ShardSpec) -> tuple[pa.Table, dict]:
        """One shard's rows as an Arrow table, and its per-channel sums. Depth for batch i runs in a
        side thread (on the GPU, when there is one) while this thread composites batch i+1 and
        encodes batch i-1."""
        job = self.job
        ids = job.plan.split_ids(spec.split)[spec.start:spec.stop]
        rows = _Rows(job)
        batch_size = getattr(self.backend, "batch_size", DEPTH_BATCH) if job.with_depth else DEPTH_BATCH
        with ThreadPoolExecutor(1, thread_name_prefix="depth") as depth_thread:
            pending = None
            for start in range(0, len(ids), batch_size):
                batch = ids[start:start + batch_size]
                t0 = time.perf_counter()
                made = self._map(lambda i: self.compose(i, job.size), batch)
                inputs = self.model_inputs(batch, made) if job.with_depth else None
                self._clock("compose", t0)
                depth = depth_thread.submit(self.depth_units, *inputs) if job.with_depth else None
                if pending is not None:
                    rows.add_batch(self, *pending)
                pending = (batch, made, depth)
            if pending is not None:
                rows.add_batch(self, *pending)
        t0 = time.perf_counter()
        table = pa.Table.from_pydict(rows.cols, schema=schema(job.with_depth))
        acc = rows.finish_stats(self)
        self._clock("encode", t0)
        return table, acc

    def make(self, spec: ShardSpec) -> dict:
        """Build one shard, write it atomically under its final name, then its done-marker."""
        job = self.job
        self.stage_seconds = {}
        table, acc = self.build(spec)
        t0 = time.perf_counter()
        num_bytes, sha, arrow_bytes = write_table_atomic(table, job.shard_path(spec), Path(job.out) / STATE_DIR / "tmp")
        self._clock("write", t0)
        result = {"split": spec.split, "index": spec.index, "filename": spec.filename, "rows": table.num_rows,
                  "num_bytes": num_bytes, "arrow_bytes": arrow_bytes, "sha256": sha, "stats": acc,
                  "fingerprint": job.fingerprint,
                  "stage_seconds": {k: round(v, 4) for k, v in self.stage_seconds.items()}}
        write_json_atomic(result, job.marker_path(spec))
        return result


class _Rows:
    """The columns of one shard as they fill, and the running per-channel sums."""

    def __init__(self, job: Job):
        self.job = job
        self.cols: dict[str, list] = {name: [] for name in schema(job.with_depth).names}
        self.hist = {"fg_bg": np.zeros((3, 256), np.int64), "bg": np.zeros((3, 256), np.int64),
                     "mask": np.zeros((1, 256), np.int64)}
        self.acc: dict[str, dict] = {}
        if job.with_depth:
            self.acc["depth"] = stats.empty(1)
        self.bg_uses: dict[int, int] = {}

    def add_batch(self, worker: ShardWorker, batch, made, depth_future) -> None:
        job, cols = self.job, self.cols
        t0 = time.perf_counter()
        encoded = worker._map(lambda m: (encode_jpeg(m[0]), encode_png_gray(m[1])), made)
        worker._clock("encode", t0)
        depth = depth_future.result() if depth_future is not None else None
        t0 = time.perf_counter()
        depth_png = worker._map(encode_png_gray, list(depth)) if depth is not None else None
        for j, (sid, (_, mask, (x, y, w, h)), (fg_bytes, mask_bytes)) in enumerate(zip(batch, made, encoded)):
            bg_id, fg_id, flip, k = job.plan.decode(int(sid))
            cols["fg_bg"].append({"bytes": fg_bytes, "path": None})
            cols["bg"].append({"bytes": worker.background_jpeg(bg_id), "path": None})
            cols["mask"].append({"bytes": mask_bytes, "path": None})
            stats.add_histogram(self.hist["fg_bg"], decode_jpeg(fg_bytes))
            stats.add_binary_mask(self.hist["mask"], mask)
            self.bg_uses[bg_id] = self.bg_uses.get(bg_id, 0) + 1
            if depth is not None:
                cols["depth"].append({"bytes": depth_png[j], "path": None})
                stats.add_depth(self.acc["depth"], depth[j])
            for name, value in (("sample_id", int(sid)), ("bg_id", bg_id), ("fg_id", fg_id),
                                ("bg_name", job.backgrounds[bg_id].name), ("fg_name", job.foregrounds[fg_id].name),
                                ("flipped", bool(flip)), ("placement", k), ("x", x), ("y", y), ("w", w), ("h", h),
                                ("scale", w * h / (job.size * job.size))):
                cols[name].append(value)
        worker._clock("encode", t0)

    def finish_stats(self, worker: ShardWorker) -> dict:
        for bg_id in sorted(self.bg_uses):
            stats.add_histogram(self.hist["bg"], decode_jpeg(worker.background_jpeg(bg_id)), weight=self.bg_uses[bg_id])
        out = {col: stats.from_histogram(h) for col, h in self.hist.items()}
        if "depth" in self.acc:
            out["depth"] = self.acc["depth"]
        return out
