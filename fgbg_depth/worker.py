"""Make one shard: plan rows → compose → depth → encode → Parquet. The unit every engine runs."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from . import stats
from .assets import SourceFile, open_background, open_foreground
from .compose import fit_background, paste, resize_foreground
from .depth import get_backend
from .plan import Plan, ShardSpec, place_foreground
from .shards import schema, write_json_atomic, write_table_atomic

DEPTH_SCALE = 10.0 / 65535.0  # metres per stored unit: DenseDepth's 10 m range over 16 bits
JPEG_QUALITY = 90
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


def encode_jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def encode_png(arr: np.ndarray) -> bytes:
    """uint8 H×W → 8-bit grey PNG; uint16 H×W → 16-bit grey PNG."""
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def decode_rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def quantize_depth(metres: np.ndarray, scale: float) -> np.ndarray:
    """Metres → uint16 units of `scale`; non-positive or non-finite depth becomes 0 (unknown)."""
    valid = np.isfinite(metres) & (metres > 0)
    q = np.clip(np.rint(np.where(valid, metres, 0) / scale), 1, 65535).astype(np.uint16)
    return np.where(valid, q, 0).astype(np.uint16)


def resize_depth(depth: np.ndarray, size: int) -> np.ndarray:
    if depth.shape == (size, size):
        return depth
    return np.asarray(Image.fromarray(depth.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR))


class ShardWorker:
    """Holds decoded inputs and caches for one process; `make(spec)` writes one shard."""

    def __init__(self, job: Job, backend=None):
        self.job = job
        self.backend = backend if backend is not None else get_backend(job.depth, **job.depth_options)
        self._bg_pixels: dict[tuple[int, int], np.ndarray] = {}
        self._bg_jpeg: dict[int, bytes] = {}
        self._fg: dict[int, Image.Image] = {}

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

    # -- one sample ---------------------------------------------------------------------------
    def compose(self, sample_id: int, res: int):
        """Composite and mask of one sample at a square resolution, and its box there."""
        bg_id, fg_id, flip, _ = self.job.plan.decode(int(sample_id))
        fg = self.foreground(fg_id)
        placement = place_foreground(self.job.plan.seed, int(sample_id), fg.width / fg.height)
        x, y, w, h = placement.box(res)
        composite, mask = paste(self.background(bg_id, res), resize_foreground(fg, w, h, bool(flip)), x, y)
        return composite, mask, (x, y, w, h)

    def depth_for(self, ids, composites, masks) -> np.ndarray:
        """uint16 depth at the output size for a batch, from the backend's own input size."""
        size = self.job.size
        model_size = self.backend.input_size
        if model_size is None or tuple(model_size) == (size, size):
            metres = self.backend.predict(np.stack(composites), np.stack(masks))
        else:
            if model_size[0] != model_size[1]:
                raise ValueError("depth backends with non-square inputs are not supported")
            big = [self.compose(i, model_size[0]) for i in ids]
            metres = self.backend.predict(np.stack([b[0] for b in big]), np.stack([b[1] for b in big]))
        return np.stack([quantize_depth(resize_depth(m, size), self.job.depth_scale) for m in metres])

    # -- one shard ----------------------------------------------------------------------------
    def make(self, spec: ShardSpec) -> dict:
        job = self.job
        ids = job.plan.split_ids(spec.split)[spec.start:spec.stop]
        cols: dict[str, list] = {name: [] for name in schema(job.with_depth).names}
        acc = {"fg_bg": stats.empty(3), "bg": stats.empty(3), "mask": stats.empty(1)}
        if job.with_depth:
            acc["depth"] = stats.empty(1)
        bg_uses: dict[int, int] = {}
        for start in range(0, len(ids), DEPTH_BATCH):
            batch = ids[start:start + DEPTH_BATCH]
            made = [self.compose(i, job.size) for i in batch]
            depth = self.depth_for(batch, [m[0] for m in made], [m[1] for m in made]) if job.with_depth else None
            for j, (sid, (composite, mask, (x, y, w, h))) in enumerate(zip(batch, made)):
                bg_id, fg_id, flip, k = job.plan.decode(int(sid))
                fg_bytes = encode_jpeg(composite)
                cols["fg_bg"].append({"bytes": fg_bytes, "path": None})
                cols["bg"].append({"bytes": self.background_jpeg(bg_id), "path": None})
                cols["mask"].append({"bytes": encode_png(mask), "path": None})
                stats.add_pixels(acc["fg_bg"], decode_rgb(fg_bytes))
                stats.add_pixels(acc["mask"], mask)
                bg_uses[bg_id] = bg_uses.get(bg_id, 0) + 1
                if depth is not None:
                    cols["depth"].append({"bytes": encode_png(depth[j]), "path": None})
                    stats.add_pixels(acc["depth"], depth[j], skip_zero=True)
                for name, value in (("sample_id", int(sid)), ("bg_id", bg_id), ("fg_id", fg_id),
                                    ("bg_name", job.backgrounds[bg_id].name),
                                    ("fg_name", job.foregrounds[fg_id].name), ("flipped", bool(flip)),
                                    ("placement", k), ("x", x), ("y", y), ("w", w), ("h", h),
                                    ("scale", w * h / (job.size * job.size))):
                    cols[name].append(value)
        for bg_id in sorted(bg_uses):
            stats.add_pixels(acc["bg"], decode_rgb(self.background_jpeg(bg_id)), weight=bg_uses[bg_id])
        table = pa.Table.from_pydict(cols, schema=schema(job.with_depth))
        out = Path(job.out)
        num_bytes, sha = write_table_atomic(table, job.shard_path(spec), out / STATE_DIR / "tmp")
        result = {"split": spec.split, "index": spec.index, "filename": spec.filename, "rows": len(ids),
                  "num_bytes": num_bytes, "arrow_bytes": table.nbytes, "sha256": sha, "stats": acc,
                  "fingerprint": job.fingerprint}
        write_json_atomic(result, job.marker_path(spec))
        return result
