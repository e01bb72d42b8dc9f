"""Make one shard: plan rows → compose → depth → encode → Parquet. The unit every engine runs."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from . import stats
from .assets import SourceFile, open_background, open_foreground
from .blend import CUTOUT_KIND, draw_blend
from .codecs import decode_jpeg, encode_jpeg, encode_png_gray, encode_png_palette
from .compose import SAMPLE_RESAMPLE, bleed_colours, fit_background, paste_image, reduce_foreground
from .depth import get_backend
from .lock import STATE_DIR
from .plan import Plan, ShardSpec, place_foreground
from .scene import PALETTE, Composite, SceneOptions, compose_scene, scene_objects
from .shards import schema, write_json_atomic, write_table_atomic

DEPTH_SCALE = 10.0 / 65535.0  # metres per stored unit for a 10 m range (DenseDepth, planar) over 16 bits
DEPTH_QUANTUM = 64  # its step: 64 units, 9.8 mm
DEPTH_STEP_M = 0.01  # the step aimed at, whatever the range: ~1 cm, far finer than any of the models resolve
# (DenseDepth's NYU error is ~12% of the distance; Depth Anything V2's ~5%), coarse enough that the PNG
# stays small. metres = value × depth_scale always holds.


def depth_scale_for(max_m: float) -> float:
    """Metres per stored unit: 65535 units span the backend's range, so the Hub viewer (which shows a
    16-bit PNG by its high byte) shows all of it."""
    return float(max_m) / 65535.0


def depth_quantum_for(scale: float) -> int:
    """The step in stored units: the largest power of two not above DEPTH_STEP_M (64 for 10 m, 32 for
    20 m, 8 for 80 m; all 9.8 mm)."""
    return 1 << max(0, math.floor(math.log2(DEPTH_STEP_M / scale)))
DEPTH_BATCH = 32


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to make any shard of a run; small and picklable."""

    plan: Plan
    size: int
    backgrounds: tuple[SourceFile, ...]
    foregrounds: tuple[SourceFile, ...]
    depth: str  # a backend name: depth-anything | densedepth | planar | none | a plug-in's
    out: str
    fingerprint: str
    depth_options: dict = field(default_factory=dict)
    depth_scale: float = DEPTH_SCALE
    depth_quantum: int = DEPTH_QUANTUM
    runs_model: bool = False  # a device model, loaded once per engine process and fed batches
    scene: SceneOptions = SceneOptions()

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

    def __init__(self, job: Job, backend=None):
        self.job = job
        self.backend = backend if backend is not None else get_backend(job.depth, **job.depth_options)
        self.stage_seconds: dict[str, float] = {}
        self._bg_pixels: dict[tuple[int, int], np.ndarray] = {}
        self._bg_jpeg: dict[int, bytes] = {}
        self._bg_images: dict[tuple[int, int], Image.Image] = {}
        self._fg: dict[int, Image.Image] = {}
        self._fg_reduced: dict[tuple[int, int, bool], Image.Image] = {}
        self._fg_premultiplied: dict[tuple[int, int, bool], Image.Image] = {}
        self._fg_colours: dict[tuple[int, int, bool], Image.Image] = {}

    # -- inputs, each decoded once per process ------------------------------------------------
    def background(self, bg_id: int, res: int) -> np.ndarray:
        key = (bg_id, res)
        if key not in self._bg_pixels:
            self._bg_pixels[key] = fit_background(open_background(self.job.backgrounds[bg_id].path), res)
        return self._bg_pixels[key]

    def background_image(self, bg_id: int, res: int) -> Image.Image:
        """`background` as a Pillow image (made once), for Pillow's compositing."""
        key = (bg_id, res)
        if key not in self._bg_images:
            self._bg_images[key] = Image.fromarray(self.background(bg_id, res), "RGB")
        return self._bg_images[key]

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

    def cutout(self, fg_id: int, res: int, flip: bool, w: int, h: int) -> Image.Image:
        """`foreground_for` resized to w×h, as Pillow's RGBA resize makes it (premultiply, resize,
        divide back), with the premultiplied mip level made once per process instead of per sample."""
        mip = self.foreground_for(fg_id, res, flip)
        if (w, h) == mip.size:
            return mip.copy()  # Pillow returns a copy at an unchanged size, without the round trip
        return self.premultiplied_cutout(fg_id, res, flip, w, h).convert("RGBA")

    def premultiplied_cutout(self, fg_id: int, res: int, flip: bool, w: int, h: int) -> Image.Image:
        """`cutout` before its colours are divided back by the alpha (RGBa): what motion blur averages."""
        key = (fg_id, res, flip)
        if key not in self._fg_premultiplied:
            self._fg_premultiplied[key] = self.foreground_for(fg_id, res, flip).convert("RGBa")
        return self._fg_premultiplied[key].resize((w, h), SAMPLE_RESAMPLE)

    def scene_cutout(self, fg_id: int, res: int, flip: bool, w: int, h: int) -> Image.Image:
        """A scene's cut-out at w×h (RGBX, its fourth band the alpha): `foreground_for`'s alpha, and
        its colours carried past the silhouette (compose.bleed_colours, made once per process). Every
        pixel then has a colour that belongs to the object, for the blends that look past its edge
        (feathering, Poisson); pasted with its alpha it shows no dark fringe either."""
        key = (fg_id, res, flip)
        if key not in self._fg_colours:
            mip = self.foreground_for(fg_id, res, flip)
            # one RGBX picture: Pillow resizes its four bands each on its own (no premultiplying, as
            # for RGBA), with the weights it uses for RGB and for L, so one resize gives both
            self._fg_colours[key] = Image.merge("RGBX", (*bleed_colours(mip).split(), mip.getchannel("A")))
        return self._fg_colours[key].resize((w, h), SAMPLE_RESAMPLE)

    # -- one sample ---------------------------------------------------------------------------
    def aspect(self, fg_id: int) -> float:
        fg = self.foreground(fg_id)
        return fg.width / fg.height

    def compose(self, sample_id: int, res: int, with_mask: bool = True) -> Composite:
        """One sample composited at a square resolution: the picture, its mask (unless not wanted:
        a device model's input needs none), the own object's box there, and (with scene options)
        alpha, instances, per-object records, blend."""
        job = self.job
        bg_id, fg_id, flip, _ = job.plan.decode(int(sample_id))
        if job.scene.is_default:  # one object pasted as it is: the bytes of every earlier dataset
            placement = place_foreground(job.plan.seed, int(sample_id), self.aspect(fg_id))
            x, y, w, h = placement.box(res)
            composite, mask = paste_image(self.background_image(bg_id, res), self.cutout(fg_id, res, bool(flip), w, h),
                                          x, y, with_mask)
            return Composite(composite, mask, (x, y, w, h))
        objects = scene_objects(job.plan.seed, int(sample_id), int(fg_id), bool(flip), len(job.foregrounds),
                                self.aspect, job.scene.objects)
        blend = draw_blend(job.scene.blend, job.plan.seed, int(sample_id))
        make = {"straight": self.cutout, "bled": self.scene_cutout,
                "premultiplied": self.premultiplied_cutout}[CUTOUT_KIND[blend.mode]]
        cutout = lambda f, fl, w, h: make(f, res, fl, w, h)  # noqa: E731
        return compose_scene(self.background_image(bg_id, res), objects, cutout, blend, res / job.size, job.scene)

    def compose_batch(self, batch) -> tuple[list, tuple | None]:
        """Composites at the output size, and the depth backend's inputs (None without depth)."""
        t0 = time.perf_counter()
        made = [self.compose(i, self.job.size) for i in batch]
        inputs = self.model_inputs(batch, made) if self.job.with_depth else None
        self._clock("compose", t0)
        return made, inputs

    def model_inputs(self, ids, made):
        """Composites and masks at the depth backend's input size (reusing the output-size ones when equal)."""
        size = self.job.size
        model_size = self.backend.input_size
        if model_size is None or tuple(model_size) == (size, size):
            big = made
        elif model_size[0] != model_size[1]:
            raise ValueError("depth backends with non-square inputs are not supported")
        else:  # a model of fixed input size: masks are for priors (planar), which take any size
            big = [self.compose(i, model_size[0], with_mask=not self.job.runs_model) for i in ids]
        images = np.stack([b.image for b in big])
        if any(b.mask is None for b in big):
            return images, None
        # a scene of several objects hands the instance map: the planar prior stands each on its own foot
        return images, np.stack([b.instances if b.instances is not None else b.mask for b in big])

    def depth_units(self, images, masks) -> np.ndarray:
        """uint16 depth at the output size: predict, resize, quantise."""
        t0 = time.perf_counter()
        if hasattr(self.backend, "predict_units"):  # a model: resize and rounding run on its device
            out = self.backend.predict_units(images, self.job.size, self.job.depth_scale, self.job.depth_quantum)
        elif hasattr(self.backend, "units_from_masks") and images.shape[1:3] == (self.job.size,) * 2:
            out = self.backend.units_from_masks(masks, self.job.depth_scale, self.job.depth_quantum)
        else:
            metres = self.backend.predict(images, masks)
            out = np.stack([quantize_depth(resize_depth(m, self.job.size), self.job.depth_scale, self.job.depth_quantum)
                            for m in metres])
        self._clock("depth", t0)
        return out

    def _clock(self, stage: str, t0: float) -> None:
        add_times(self.stage_seconds, {stage: time.perf_counter() - t0})

    def take_seconds(self) -> dict:
        """The stage times clocked since the last take (or write), and a fresh clock."""
        taken, self.stage_seconds = self.stage_seconds, {}
        return taken

    # -- encoded pieces of a shard --------------------------------------------------------------
    def encode_images(self, batch, made: list[Composite]) -> Piece:
        """Encode composites and masks (and alpha, instances) of consecutive samples, with their
        value counts."""
        t0 = time.perf_counter()
        encoded = [(encode_jpeg(m.image), encode_png_gray(m.mask)) for m in made]
        piece = Piece([int(i) for i in batch], [m.box for m in made], [e[0] for e in encoded],
                      [e[1] for e in encoded], np.zeros((3, 256), np.int64), np.zeros((1, 256), np.int64))
        for fg_bytes, m in zip(piece.fg_bg, made):
            stats.add_rgb_histogram(piece.hist_fg_bg, decode_jpeg(fg_bytes))  # the values users decode
            stats.add_binary_mask(piece.hist_mask, m.mask)
        scene = self.job.scene
        if not scene.is_default:
            piece.extra = {"hist": {}}
            if scene.alpha:
                piece.extra["alpha"] = [encode_png_gray(m.alpha) for m in made]
                piece.extra["hist"]["alpha"] = np.zeros((1, 256), np.int64)
                for m in made:
                    stats.add_histogram(piece.extra["hist"]["alpha"], m.alpha)
            if scene.multi:
                piece.extra["instances"] = [encode_png_palette(m.instances, PALETTE) for m in made]
                piece.extra["objects"] = [m.objects for m in made]
                piece.extra["hist"]["instances"] = np.zeros((1, 256), np.int64)
                for m in made:
                    stats.add_histogram(piece.extra["hist"]["instances"], m.instances)
            piece.extra["blend"] = [m.blend for m in made]
        self._clock("encode", t0)
        return piece

    def encode_depth(self, piece: Piece, depth_units: np.ndarray) -> Piece:
        t0 = time.perf_counter()
        piece.depth = [encode_png_gray(d) for d in depth_units]
        piece.depth_acc = stats.empty(1)
        for d in depth_units:
            stats.add_depth(piece.depth_acc, d)
        self._clock("encode", t0)
        return piece

    def table_from(self, pieces: list[Piece]) -> tuple[pa.Table, dict]:
        """One shard's Arrow table and per-channel sums from its pieces, in order."""
        t0 = time.perf_counter()
        job = self.job
        shard_schema = schema(job.with_depth, job.scene)
        cols: dict[str, list] = {name: [] for name in shard_schema.names}
        hist_fg, hist_mask, hist_bg = (np.zeros((c, 256), np.int64) for c in (3, 1, 3))
        hist_extra = {name: np.zeros((1, 256), np.int64) for name in ("alpha", "instances") if name in cols}
        depth_acc = stats.empty(1)
        bg_uses: dict[int, int] = {}
        for piece in pieces:  # stage times of pieces made in other processes count for this shard
            add_times(self.stage_seconds, piece.seconds)
            hist_fg += piece.hist_fg_bg
            hist_mask += piece.hist_mask
            if job.with_depth:
                depth_acc = stats.merge(depth_acc, piece.depth_acc)
            for name, hist in hist_extra.items():
                hist += piece.extra["hist"][name]
            for j, sid in enumerate(piece.ids):
                bg_id, fg_id, flip, k = job.plan.decode(sid)
                x, y, w, h = piece.boxes[j]
                bg_uses[bg_id] = bg_uses.get(bg_id, 0) + 1
                cols["fg_bg"].append({"bytes": piece.fg_bg[j], "path": None})
                cols["bg"].append({"bytes": self.background_jpeg(bg_id), "path": None})
                cols["mask"].append({"bytes": piece.mask[j], "path": None})
                if job.with_depth:
                    cols["depth"].append({"bytes": piece.depth[j], "path": None})
                for name, value in (("sample_id", sid), ("bg_id", bg_id), ("fg_id", fg_id),
                                    ("bg_name", job.backgrounds[bg_id].name), ("fg_name", job.foregrounds[fg_id].name),
                                    ("flipped", bool(flip)), ("placement", k), ("x", x), ("y", y), ("w", w),
                                    ("h", h), ("scale", w * h / (job.size * job.size))):
                    cols[name].append(value)
                for name in ("alpha", "instances"):
                    if name in cols:
                        cols[name].append({"bytes": piece.extra[name][j], "path": None})
                if "objects" in cols:
                    cols["objects"].append([{**o, "fg_name": job.foregrounds[o["fg_id"]].name}
                                            for o in piece.extra["objects"][j]])
                if "blend" in cols:
                    cols["blend"].append(piece.extra["blend"][j])
        for bg_id in sorted(bg_uses):
            stats.add_histogram(hist_bg, decode_jpeg(self.background_jpeg(bg_id)), weight=bg_uses[bg_id])
        acc = {"fg_bg": stats.from_histogram(hist_fg), "bg": stats.from_histogram(hist_bg),
               "mask": stats.from_histogram(hist_mask)}
        if job.with_depth:
            acc["depth"] = depth_acc
        acc.update({name: stats.from_histogram(hist) for name, hist in hist_extra.items()})
        table = pa.Table.from_pydict(cols, schema=shard_schema)
        self._clock("encode", t0)
        return table, acc

    # -- one shard ----------------------------------------------------------------------------
    def build(self, spec: ShardSpec) -> tuple[pa.Table, dict]:
        """One shard's rows as an Arrow table, and its per-channel sums. Depth for batch i runs in a
        side thread (on the GPU, when there is one) while this thread encodes batch i and composites
        batch i+1."""
        job = self.job
        ids = job.plan.split_ids(spec.split)
        batch_size = getattr(self.backend, "batch_size", DEPTH_BATCH) if job.with_depth else DEPTH_BATCH
        pieces: list[Piece] = []
        with ThreadPoolExecutor(1, thread_name_prefix="depth") as depth_thread:
            pending = None
            for _, start, stop in spec.batches(batch_size):
                batch = ids[start:stop]
                made, inputs = self.compose_batch(batch)
                depth = depth_thread.submit(self.depth_units, *inputs) if job.with_depth else None
                piece = self.encode_images(batch, made)
                if pending is not None:
                    pieces.append(self._finish(*pending))
                pending = (piece, depth)
            if pending is not None:
                pieces.append(self._finish(*pending))
        return self.table_from(pieces)

    def _finish(self, piece: Piece, depth_future) -> Piece:
        return self.encode_depth(piece, depth_future.result()) if depth_future is not None else piece

    def write(self, spec: ShardSpec, table: pa.Table, acc: dict) -> dict:
        """Write a built shard atomically under its final name, then its done-marker."""
        job = self.job
        t0 = time.perf_counter()
        num_bytes, sha, arrow_bytes = write_table_atomic(table, job.shard_path(spec), Path(job.out) / STATE_DIR / "tmp")
        self._clock("write", t0)
        result = {"split": spec.split, "index": spec.index, "filename": spec.filename, "rows": table.num_rows,
                  "num_bytes": num_bytes, "arrow_bytes": arrow_bytes, "sha256": sha, "stats": acc,
                  "fingerprint": job.fingerprint,
                  "stage_seconds": {k: round(v, 4) for k, v in self.stage_seconds.items()}}
        write_json_atomic(result, job.marker_path(spec))
        self.stage_seconds = {}
        return result

    def make(self, spec: ShardSpec) -> dict:
        """Build one shard and write it."""
        self.stage_seconds = {}
        return self.write(spec, *self.build(spec))


@dataclass
class Piece:
    """Encoded rows of consecutive samples of one shard, with their statistics: what the compose and
    depth stages hand on and `table_from` assembles, in one process or across a cluster."""

    ids: list[int]
    boxes: list[tuple[int, int, int, int]]
    fg_bg: list[bytes]
    mask: list[bytes]
    hist_fg_bg: np.ndarray
    hist_mask: np.ndarray
    depth: list[bytes] | None = None
    depth_acc: dict | None = None
    seconds: dict = field(default_factory=dict)  # stage times spent on it away from the shard's writer
    extra: dict = field(default_factory=dict)  # scene options' columns: alpha, instances, objects, blend, hist

    def add_seconds(self, stage_seconds: dict) -> Piece:
        add_times(self.seconds, stage_seconds)
        return self


def add_times(into: dict, more: dict) -> None:
    """Add per-stage seconds into a running total."""
    for stage, seconds in more.items():
        into[stage] = into.get(stage, 0.0) + seconds


class ShapeOnly:
    """Stands in for a depth model where only its input size is needed: processes that composite
    for a model that runs elsewhere load none."""

    def __init__(self, input_size):
        self.input_size = tuple(input_size) if input_size else None
