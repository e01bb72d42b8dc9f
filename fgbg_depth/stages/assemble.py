"""Assembly: a shard's pieces → its Arrow table (the contract's schema, rows in plan order) and the
shard's channel sums."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .. import stats
from ..codecs import decode_jpeg
from ..contract import image_columns, schema
from .encode import Piece
from .job import Job


def assemble(job: Job, pieces: list[Piece], background_jpeg) -> tuple[pa.Table, dict]:
    """The table of a shard made of `pieces` (in order) and its per-column sums. `background_jpeg(bg_id)`
    gives the `bg` column's bytes; the plan gives every row's ids and names."""
    shard_schema = schema(job.with_depth, job.scene, job.categories)
    images = set(image_columns(job.with_depth, job.scene))
    cols: dict[str, list] = {name: [] for name in shard_schema.names}
    sums: dict[str, dict] = {}
    bg_uses: dict[int, int] = {}
    for piece in pieces:
        for name, acc in piece.sums.items():
            sums[name] = stats.merge(sums[name], acc) if name in sums else acc
        for name, values in piece.cells.items():
            cols[name].extend([{"bytes": v, "path": None} for v in values] if name in images else values)
        for sid, (x, y, w, h) in zip(piece.ids, piece.boxes):
            bg_id, fg_id, flip, k = job.plan.decode(sid)
            bg_uses[bg_id] = bg_uses.get(bg_id, 0) + 1
            cols["bg"].append({"bytes": background_jpeg(bg_id), "path": None})
            for name, value in (("sample_id", sid), ("bg_id", bg_id), ("fg_id", fg_id),
                                ("bg_name", job.backgrounds[bg_id].name), ("fg_name", job.foregrounds[fg_id].name),
                                ("flipped", bool(flip)), ("placement", k), ("x", x), ("y", y), ("w", w),
                                ("h", h), ("scale", w * h / (job.size * job.size))):
                cols[name].append(value)
            if job.categories:
                cols["category"].append(job.foregrounds[fg_id].category)
    hist_bg = np.zeros((3, 256), np.int64)
    for bg_id in sorted(bg_uses):  # one stored background serves many rows: decoded once, counted per use
        stats.add_histogram(hist_bg, decode_jpeg(background_jpeg(bg_id)), weight=bg_uses[bg_id])
    sums["bg"] = stats.from_histogram(hist_bg)
    table = pa.Table.from_pydict(cols, schema=shard_schema)
    return table, {name: sums[name] for name in image_columns(job.with_depth, job.scene)}
