"""A depth prior that needs no weights: a flat ground seen by a level camera.

Rows below the horizon lie on the ground plane, whose distance falls off as 1 / (row - horizon);
rows at or above the horizon are as far as the range allows. A pasted object stands upright on
the ground where its lowest opaque row touches it, so it takes that row's distance everywhere.
With several objects the mask is an instance map (one value per object): each stands on its own
lowest visible row.
"""

from __future__ import annotations

import numpy as np

from ..contract import quantize_depth

MAX_DEPTH = 10.0  # metres, the same range as DenseDepth's NYU model


def standing_objects(mask: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """(pixels, foot row) of each object in a mask: a binary mask (one value besides 0) is one object,
    an instance map one per id; the foot is the object's lowest row."""
    top = int(mask.max())
    if top == 0:
        return []
    on = mask > 0
    if np.count_nonzero(on) == np.count_nonzero(mask == top):  # one object: no per-id pass
        return [(on, int(np.flatnonzero(on.any(axis=1))[-1]))]
    objects = []
    for v in np.unique(mask[on]):
        where = mask == v
        objects.append((where, int(np.flatnonzero(where.any(axis=1))[-1])))
    return objects


class PlanarDepth:
    name = "planar"
    input_size = None
    per_sample = True  # a sample's depth depends on its own mask alone, not on the batch it came in

    def __init__(self, horizon: float = 0.4, nearest: float = 1.0):
        if not 0.0 <= horizon < 1.0 or nearest <= 0:
            raise ValueError("horizon must be in [0, 1) and nearest > 0")
        self.horizon = horizon
        self.nearest = nearest

    def ground(self, height: int) -> np.ndarray:
        """Distance of each row's ground point, in metres (float32, length `height`)."""
        rows = np.arange(height, dtype=np.float64) + 0.5
        horizon = self.horizon * height
        below = rows - horizon
        with np.errstate(divide="ignore"):
            d = np.where(below > 0, self.nearest * (height - horizon) / np.maximum(below, 1e-9), MAX_DEPTH)
        return np.minimum(d, MAX_DEPTH).astype(np.float32)

    def predict(self, images: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        n, h, w = images.shape[:3]
        ground = self.ground(h)
        out = np.broadcast_to(ground[None, :, None], (n, h, w)).copy()
        if masks is not None:
            for i in range(n):
                for where, foot in standing_objects(masks[i]):
                    out[i][where] = ground[foot]
        return out

    def _row_units(self, height: int, scale: float, quantum: int) -> np.ndarray:
        """The ground's stored units per row (contract.quantize_depth of `ground`), kept for the last
        size and units asked for."""
        key = (height, float(scale), int(quantum))
        if getattr(self, "_rows", (None,))[0] != key:
            self._rows = (key, quantize_depth(self.ground(height), scale, quantum))
        return self._rows[1]

    def units_from_masks(self, masks: np.ndarray, scale: float, quantum: int) -> np.ndarray:
        """`predict` at the masks' size turned into stored units (contract.quantize_depth), the same
        values computed once per row: the ground is one value per row, and each object one value."""
        n, h, w = masks.shape
        rows = self._row_units(h, scale, quantum)
        out = np.empty((n, h, w), np.uint16)
        out[:] = rows[None, :, None]
        for i in range(n):
            for where, foot in standing_objects(masks[i]):
                out[i][where] = rows[foot]
        return out

    def units_of_objects(self, placed, size: int, scale: float, quantum: int) -> tuple[np.ndarray, dict]:
        """`units_from_masks` of size×size masks that each hold one object, given as (x, y, silhouette):
        its box's corner and its compose.Silhouette (a pasted cut-out's). With the units' exact sums
        (a stats accumulator, as stats.add_depth would give), worked out from the rows: the ground is
        one value per row and the object one value, so a map is the ground's sums less the ground's
        values under the object's pixels, row by row, plus the object's value as often as it has
        pixels. No map is read back, and a silhouette's row counts serve every sample that pastes it.
        Exact integers throughout: a row's dot is below 2**63 (int64) for any frame up to 10,000
        px, and the totals are Python ints."""
        n = len(placed)
        rows = self._row_units(size, scale, quantum)
        out = np.empty((n, size, size), np.uint16)
        out[:] = rows[None, :, None]
        ground = rows.astype(np.int64)
        ground_sq, ground_on = ground * ground, (ground != 0).astype(np.int64)
        total = n * size * int(ground.sum())
        total_sq = n * size * int(ground_sq.sum())
        count = n * size * int(ground_on.sum())
        for i, (x, y, silhouette) in enumerate(placed):
            if silhouette.foot < 0:  # nothing opaque: the ground alone
                continue
            h, w = silhouette.on.shape
            value = int(rows[y + silhouette.foot])
            np.copyto(out[i, y:y + h, x:x + w], value, where=silhouette.on, casting="unsafe")
            per_row = silhouette.row_counts
            total += value * silhouette.count - int(per_row @ ground[y:y + h])
            total_sq += value * value * silhouette.count - int(per_row @ ground_sq[y:y + h])
            count += (value != 0) * silhouette.count - int(per_row @ ground_on[y:y + h])
        return out, {"count": count, "sum": [total], "sumsq": [total_sq]}

    def describe(self) -> dict:
        return {"backend": "planar", "horizon": self.horizon, "nearest_m": self.nearest,
                "max_m": MAX_DEPTH}
