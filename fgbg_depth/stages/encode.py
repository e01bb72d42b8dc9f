"""Encoding: composites and depth maps → the bytes of their columns, with exact channel sums of the
values a reader will decode (stats.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import stats
from ..codecs import decode_jpeg_rgbx, encode_jpeg, encode_png_gray, encode_png_palette
from ..scene import PALETTE, Composite
from .job import Job


DECODED_AT_ONCE = 8  # composites decoded into one buffer for counting (8 at 448 px: 6.4 MB)


@dataclass
class Piece:
    """Encoded rows of consecutive samples of one shard: what the compose and depth stages hand on
    and `assemble` lays out, in one process or across a cluster."""

    ids: list[int]
    boxes: list[tuple[int, int, int, int]]  # the own object's box of each row
    cells: dict[str, list]  # per column made by a stage, one value per row (image bytes, objects, blend)
    sums: dict[str, dict]  # per image column, its exact channel sums over these rows (stats accumulators)
    seconds: dict = field(default_factory=dict)  # stage times spent on it away from the shard's writer

    def add_seconds(self, stage_seconds: dict) -> Piece:
        add_times(self.seconds, stage_seconds)
        return self


def in_plan_order(pieces: list[Piece], positions: list[int]) -> Piece:
    """One piece of a shard's rows in plan order, from pieces made in another order: the pieces' rows,
    taken one after another, are the shard's rows at `positions`. Sums are exact integers, so
    merging them in any order gives the same figures."""
    rows = len(positions)
    back = [0] * rows  # back[position in the shard] = index in the pieces' rows
    for index, position in enumerate(positions):
        back[position] = index
    ids = [i for p in pieces for i in p.ids]
    boxes = [b for p in pieces for b in p.boxes]
    cells = {name: [v for p in pieces for v in p.cells[name]] for name in pieces[0].cells} if pieces else {}
    sums: dict[str, dict] = {}
    seconds: dict = {}
    for piece in pieces:
        for name, acc in piece.sums.items():
            sums[name] = stats.merge(sums[name], acc) if name in sums else acc
        add_times(seconds, piece.seconds)
    return Piece([ids[i] for i in back], [boxes[i] for i in back],
                 {name: [values[i] for i in back] for name, values in cells.items()}, sums, seconds)


def add_times(into: dict, more: dict) -> None:
    """Add per-stage seconds into a running total."""
    for stage, seconds in more.items():
        into[stage] = into.get(stage, 0.0) + seconds


def _value_sums(pictures: list[np.ndarray]) -> dict:
    """The sums of one-channel uint8 pictures, from their value counts."""
    hist = np.zeros((1, 256), np.int64)
    for p in pictures:
        stats.add_histogram(hist, p)
    return stats.from_histogram(hist)


def encode_images(job: Job, ids, made: list[Composite]) -> Piece:
    """The composites' columns: `fg_bg` (JPEG; its sums from the decoded JPEG, the values users get),
    `mask`, and the scene's `alpha`, `instances`, `objects` and `blend` where the job has them."""
    fg_bg = [encode_jpeg(m.image) for m in made]
    hist_fg, hist_mask = np.zeros((3, 256), np.int64), np.zeros((1, 256), np.int64)
    for start in range(0, len(made), DECODED_AT_ONCE):
        # decoded a few at a time into one buffer, and counted in one call
        part = fg_bg[start:start + DECODED_AT_ONCE]
        decoded = np.empty((len(part), job.size, job.size, 4), np.uint8)
        for data, out in zip(part, decoded):
            decode_jpeg_rgbx(data, out)
        stats.add_rgbx_histogram(hist_fg, decoded)
    for m in made:  # a mask that is its silhouette in its box, zero elsewhere, has the silhouette's count
        stats.add_binary_mask(hist_mask, m.mask, m.silhouette.count if m.silhouette is not None else None)
    piece = Piece([int(i) for i in ids], [m.box for m in made],
                  {"fg_bg": fg_bg, "mask": [encode_png_gray(m.mask) for m in made]},
                  {"fg_bg": stats.from_histogram(hist_fg), "mask": stats.from_histogram(hist_mask)})
    scene = job.scene
    if scene.alpha:
        piece.cells["alpha"] = [encode_png_gray(m.alpha) for m in made]
        piece.sums["alpha"] = _value_sums([m.alpha for m in made])
    if scene.multi:
        piece.cells["instances"] = [encode_png_palette(m.instances, PALETTE) for m in made]
        piece.sums["instances"] = _value_sums([m.instances for m in made])
        piece.cells["objects"] = [[_object_record(job, o) for o in m.objects] for m in made]
    if scene.blend != "none":
        piece.cells["blend"] = [m.blend for m in made]
    return piece


def _object_record(job: Job, record: dict) -> dict:
    """A scene object's record with what the job knows of its foreground: name, and category if any."""
    fg = job.foregrounds[record["fg_id"]]
    return {**record, "fg_name": fg.name, **({"category": fg.category} if job.categories else {})}


def encode_depth(piece: Piece, depth_units: np.ndarray, sums: dict | None = None) -> Piece:
    """The `depth` column (16-bit PNG) of a piece's rows; unknown depth (0) is left out of the sums,
    which are taken from the units unless given (exact ones the depth stage worked out: the planar
    prior's units_of_objects)."""
    piece.cells["depth"] = [encode_png_gray(d) for d in depth_units]
    if sums is None:
        sums = stats.empty(1)
        stats.add_depth(sums, depth_units)  # the batch at once
    piece.sums["depth"] = sums
    return piece
