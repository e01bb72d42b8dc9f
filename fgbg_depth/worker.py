"""Make one shard: plan rows → compose → depth → encode → assemble → Parquet. The unit every engine runs.

The stages themselves live in `stages/`; a `ShardWorker` holds one process's state for them (the
decoded inputs, the depth backend, the stage clock) and runs them in order. The engines call the
same methods one stage at a time when they spread a shard over processes or a cluster.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from .contract import state_path
from .depth import get_backend
from .memory import tune_for_shards
from .plan import ShardSpec
from .scene import Composite
from .shards import write_json_atomic, write_table_atomic
from .stages import depthmap, encode
from .stages.assemble import assemble
from .stages.composite import Compositor
from .stages.encode import Piece, add_times
from .stages.job import Job
from .stages.pictures import Pictures

DEPTH_BATCH = 32  # rows per batch when no model sets its own batch size


class ShardWorker:
    """One process's stages for a job; `make(spec)` writes one shard. Each stage method clocks itself
    into `stage_seconds`, which the shard's marker and the run's report carry."""

    def __init__(self, job: Job, backend=None):
        tune_for_shards()  # the process reuses its memory from batch to batch (memory.py)
        self.job = job
        self.backend = backend if backend is not None else get_backend(job.depth, **job.depth_options)
        self.pictures = Pictures(job.backgrounds, job.foregrounds, job.size)
        self.compositor = Compositor(job, self.pictures)
        self.stage_seconds: dict[str, float] = {}

    # -- the stages, clocked ---------------------------------------------------------------------
    def compose_batch(self, batch, with_inputs: bool = True) -> tuple[list[Composite], tuple | None]:
        """Composites at the output size, and the depth backend's inputs (None without depth or
        unless wanted)."""
        t0 = time.perf_counter()
        made = self.compositor.batch(batch)
        inputs = self.compositor.model_inputs(batch, made, self.backend.input_size,
                                              with_images=not depthmap.reads_masks_only(self.backend)) \
            if self.job.with_depth and with_inputs else None
        self._clock("compose", t0)
        return made, inputs

    def depth_units(self, images, masks) -> np.ndarray:
        """uint16 depth at the output size (stages.depthmap)."""
        t0 = time.perf_counter()
        job = self.job
        out = depthmap.depth_units(self.backend, images, masks, job.size, job.depth_scale, job.depth_quantum)
        self._clock("depth", t0)
        return out

    def depth_of_objects(self, made: list[Composite]) -> tuple[np.ndarray, dict]:
        """uint16 depth at the output size of one-object composites, and its exact sums, from each
        object's box and silhouette (stages.depthmap.of_objects: the planar prior)."""
        t0 = time.perf_counter()
        job = self.job
        out = self.backend.units_of_objects([(m.box[0], m.box[1], m.silhouette) for m in made], job.size,
                                            job.depth_scale, job.depth_quantum)
        self._clock("depth", t0)
        return out

    def encode_images(self, batch, made: list[Composite]) -> Piece:
        t0 = time.perf_counter()
        piece = encode.encode_images(self.job, batch, made)
        self._clock("encode", t0)
        return piece

    def encode_depth(self, piece: Piece, depth_units: np.ndarray, sums: dict | None = None) -> Piece:
        t0 = time.perf_counter()
        encode.encode_depth(piece, depth_units, sums)
        self._clock("encode", t0)
        return piece

    def table_from(self, pieces: list[Piece]) -> tuple[pa.Table, dict]:
        """One shard's Arrow table and per-channel sums from its pieces, in order."""
        t0 = time.perf_counter()
        for piece in pieces:  # stage times of pieces made in other processes count for this shard
            add_times(self.stage_seconds, piece.seconds)
        table, sums = assemble(self.job, pieces, self.pictures.background_jpeg)
        self._clock("encode", t0)
        return table, sums

    def _clock(self, stage: str, t0: float) -> None:
        add_times(self.stage_seconds, {stage: time.perf_counter() - t0})

    def take_seconds(self) -> dict:
        """The stage times clocked since the last take (or write), and a fresh clock."""
        taken, self.stage_seconds = self.stage_seconds, {}
        return taken

    # -- one shard ----------------------------------------------------------------------------
    def build(self, spec: ShardSpec) -> tuple[pa.Table, dict]:
        """One shard's rows as an Arrow table, and its per-channel sums. Depth for batch i runs in a
        side thread (on the GPU, when there is one) while this thread encodes batch i and composites
        batch i+1. A per-sample prior (planar) or no depth runs in this thread, and where no row
        depends on the others of its batch (one object pasted, too), the rows are made in cut-out
        order and put back in plan order."""
        job = self.job
        ids = job.plan.split_ids(spec.split)
        batch_size = getattr(self.backend, "batch_size", DEPTH_BATCH) if job.with_depth else DEPTH_BATCH
        per_sample = not job.with_depth or getattr(self.backend, "per_sample", False)
        order = None
        if job.scene.is_default and per_sample:
            order = [spec.start + p for p in self.compositor.cutout_order(ids[spec.start:spec.stop])]
        pieces: list[Piece] = []
        if per_sample:  # a prior's depth is a little CPU work: a side thread would only contend for the GIL
            # one object pasted as it is: the planar prior reads its box and silhouette, not stacked masks
            objects = job.with_depth and job.scene.is_default and depthmap.of_objects(self.backend)
            for _, start, stop in spec.batches(batch_size):
                batch = ids[start:stop] if order is None else ids[order[start - spec.start:stop - spec.start]]
                made, inputs = self.compose_batch(batch, with_inputs=not objects)
                piece = self.encode_images(batch, made)
                if objects:
                    piece = self.encode_depth(piece, *self.depth_of_objects(made))
                elif job.with_depth:
                    piece = self.encode_depth(piece, self.depth_units(*inputs))
                pieces.append(piece)
        else:
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
        if order is not None:
            pieces = [encode.in_plan_order(pieces, [p - spec.start for p in order])]
        return self.table_from(pieces)

    def _finish(self, piece: Piece, depth_future) -> Piece:
        return self.encode_depth(piece, depth_future.result()) if depth_future is not None else piece

    def write(self, spec: ShardSpec, table: pa.Table, acc: dict) -> dict:
        """Write a built shard atomically under its final name, then its done-marker."""
        job = self.job
        t0 = time.perf_counter()
        num_bytes, sha, arrow_bytes = write_table_atomic(table, job.shard_path(spec), state_path(job.out, "tmp"))
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


class ShapeOnly:
    """Stands in for a depth model where only its input size is needed: processes that composite
    for a model that runs elsewhere load none."""

    def __init__(self, input_size):
        self.input_size = tuple(input_size) if input_size else None
