"""Assembly: a shard's pieces → its Arrow table (the contract's schema, rows in plan order) and the
shard's channel sums."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .. import stats
from ..codecs import decode_jpeg
from ..contract import image_columns, schema
from ..shards import binary_array, image_array, numeric_array
from .encode import Piece
from .job import Job


def assemble(job: Job, pieces: list[Piece], background_jpeg) -> tuple[pa.Table, dict]:
    """The table of a shard made of `pieces` (in order) and its per-column sums. `background_jpeg(bg_id)`
    gives the `bg` column's bytes; the plan gives every row's ids and names. Columns are laid out
    whole from their values (Arrow buffers over NumPy arrays and joined bytes), not row by row;
    pyarrow's converters from Python objects are left to the scene's list and string columns."""
    shard_schema = schema(job.with_depth, job.scene, job.categories)
    images = set(image_columns(job.with_depth, job.scene))
    sums: dict[str, dict] = {}
    made: dict[str, list] = {}
    for piece in pieces:
        for name, acc in piece.sums.items():
            sums[name] = stats.merge(sums[name], acc) if name in sums else acc
        for name, values in piece.cells.items():
            made.setdefault(name, []).extend(values)
    ids = np.fromiter((i for p in pieces for i in p.ids), np.int64)
    boxes = np.array([b for p in pieces for b in p.boxes], np.int64).reshape(-1, 4)
    bg_ids, fg_ids, flip, k = job.plan.decode(ids)
    x, y, w, h = boxes.T
    bg_names = [b.name.encode() for b in job.backgrounds]
    fg_names = [f.name.encode() for f in job.foregrounds]
    bg_bytes = {int(b): background_jpeg(int(b)) for b in np.unique(bg_ids)}
    columns = {
        "bg": image_array(binary_array([bg_bytes[b] for b in bg_ids.tolist()])),
        "sample_id": ids, "bg_id": bg_ids, "fg_id": fg_ids, "flipped": flip, "placement": k,
        "x": x, "y": y, "w": w, "h": h,
        "bg_name": binary_array([bg_names[b] for b in bg_ids.tolist()], pa.string()),
        "fg_name": binary_array([fg_names[f] for f in fg_ids.tolist()], pa.string()),
        "scale": (w * h) / (job.size * job.size),  # the float64 quotient, rounded once to float32
    }
    if job.categories:
        columns["category"] = np.array([f.category for f in job.foregrounds], np.int64)[fg_ids]
    for name, values in made.items():
        columns[name] = image_array(binary_array(values)) if name in images else values
    arrays = []
    for field in shard_schema:
        value = columns[field.name]
        if isinstance(value, np.ndarray):
            value = numeric_array(value, field.type)
        arrays.append(value if isinstance(value, pa.Array) else pa.array(value, field.type))
    table = pa.Table.from_arrays(arrays, schema=shard_schema)
    hist_bg = np.zeros((3, 256), np.int64)
    for bg_id, uses in zip(*np.unique(bg_ids, return_counts=True)):
        # one stored background serves many rows: decoded once, counted per use
        stats.add_histogram(hist_bg, decode_jpeg(bg_bytes[int(bg_id)]), weight=int(uses))
    sums["bg"] = stats.from_histogram(hist_bg)
    return table, {name: sums[name] for name in image_columns(job.with_depth, job.scene)}
