"""Checks of a matting model's raw probabilities: the usual ways a cut-out fails, as figures and flags.

Every check reads the probabilities at the photo's size, before any rounding or cropping, and compares
one figure with a threshold of `CheckThresholds`. The object is where p ≥ 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import FgBgError

OBJECT_LEVEL = 0.5  # p at or above it: the object
PIECES_GRID = 512  # pieces are counted on the mask reduced to at most this many pixels on its long side
CHECK_NAMES = ("empty", "whole_frame", "touches_edge", "pieces", "unsure")


@dataclass(frozen=True)
class CheckThresholds:
    """When each check flags a cut-out. Shares are fractions (0.01 = 1%)."""

    # Under 0.5% of the frame is a speck: at the model's 1024² that is under ~70×70 pixels, less than any
    # photo taken of an object, and what models return for pictures with nothing in them.
    empty_below: float = 0.005
    # Over 90% of the frame is left: hardly anything was removed, and such a cut-out pastes as a rectangle.
    whole_frame_above: float = 0.9
    # Over 2% of one side's pixels in the object: a limb, a handle or a base cut by the frame. Less is a
    # stray hair, a shadow or the soft rim the resize leaves, which paste without harm.
    edge_above: float = 0.02
    # A connected part counts as a piece from 5% of the object's area: crumbs and loose strands stay
    # under it, a second object or a body cut in two is over it.
    piece_min_share: float = 0.05
    # More pieces than this falls apart (one object is one piece).
    pieces_above: int = 1
    # p in (0.1, 0.9) is neither in nor out. A crisp object has a band a few pixels wide along its
    # outline (the model's map is upsampled), a few % of its area; fur and hair more. Over 30% of the
    # object's area the model was not sure where the object is (blur, glass, clutter).
    unsure_above: float = 0.3
    unsure_low: float = 0.1
    unsure_high: float = 0.9

    def __post_init__(self):
        for name in ("empty_below", "whole_frame_above", "edge_above", "piece_min_share", "unsure_low", "unsure_high"):
            _require_number(name, getattr(self, name), 0.0, 1.0)
        _require_number("unsure_above", self.unsure_above, 0.0, math.inf)  # of the object's area: may pass 1
        if isinstance(self.pieces_above, bool) or not isinstance(self.pieces_above, int) or self.pieces_above < 1:
            raise FgBgError(f"check threshold pieces_above must be a whole number of at least 1, "
                            f"not {self.pieces_above!r}")
        if not self.unsure_low < self.unsure_high:
            raise FgBgError(f"check thresholds: unsure_low ({self.unsure_low}) must be below unsure_high "
                            f"({self.unsure_high})")


def _require_number(name: str, value, low: float, high: float):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        span = f"from {low:g} to {high:g}" if high < math.inf else f"of at least {low:g}"
        raise FgBgError(f"check threshold {name} must be a number {span}, not {value!r}")


def check_probabilities(prob: np.ndarray, thresholds: CheckThresholds = CheckThresholds()) -> tuple[dict, list[str]]:
    """Figures (JSON-friendly, 4 decimals) and the names of the checks that failed, in CHECK_NAMES order.

    Figures: `object_share` (of the frame), `edge_share` (of the most covered side's pixels), `pieces`
    (connected parts, 8-connected, of at least `piece_min_share` of the object, counted on a mask reduced
    to at most PIECES_GRID pixels on its long side), `unsure_share` (of the object's area; None when there
    is no object). An `empty` cut-out gets no other flag: there is nothing else to judge.
    """
    prob = np.asarray(prob)
    if prob.ndim != 2 or prob.size == 0 or prob.dtype.kind != "f":
        raise ValueError(f"expected a float H×W map of probabilities, got {prob.dtype} of shape {prob.shape}")
    inside = prob >= OBJECT_LEVEL
    object_pixels = int(np.count_nonzero(inside))
    object_share = object_pixels / prob.size
    sides = (inside[0], inside[-1], inside[:, 0], inside[:, -1])
    edge_share = max(int(np.count_nonzero(side)) / side.size for side in sides)
    pieces = count_pieces(prob, thresholds.piece_min_share) if object_pixels else 0
    unsure = int(np.count_nonzero((prob > thresholds.unsure_low) & (prob < thresholds.unsure_high)))
    unsure_share = unsure / object_pixels if object_pixels else None

    figures = {
        "object_share": round(object_share, 4),
        "edge_share": round(edge_share, 4),
        "pieces": pieces,
        "unsure_share": None if unsure_share is None else round(unsure_share, 4),
    }
    if object_share < thresholds.empty_below:
        return figures, ["empty"]
    failed = {
        "empty": False,
        "whole_frame": object_share > thresholds.whole_frame_above,
        "touches_edge": edge_share > thresholds.edge_above,
        "pieces": pieces > thresholds.pieces_above,
        "unsure": unsure_share > thresholds.unsure_above,
    }
    return figures, [name for name in CHECK_NAMES if failed[name]]


def count_pieces(prob: np.ndarray, min_share: float) -> int:
    """Connected parts (8-connected) of the object holding at least `min_share` of its area, counted on
    the probabilities area-averaged down to at most PIECES_GRID pixels on the long side (a 12-MP photo's
    mask is ~48× smaller there, and a gap narrower than a reduced pixel does not split it)."""
    try:
        from scipy import ndimage
    except ImportError:
        raise FgBgError("the pieces check needs SciPy: pip install 'fgbg-depth[cutout]'") from None
    h, w = prob.shape
    scale = PIECES_GRID / max(h, w)
    if scale < 1:
        small = (max(1, round(w * scale)), max(1, round(h * scale)))
        prob = np.asarray(Image.fromarray(prob.astype(np.float32, copy=False)).resize(small, Image.Resampling.BOX))
    labels, count = ndimage.label(prob >= OBJECT_LEVEL, structure=np.ones((3, 3), bool))
    if count == 0:
        return 0
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return int(np.count_nonzero(areas >= min_share * areas.sum()))
