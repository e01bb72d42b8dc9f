"""Depth maps as stored: any backend's output → uint16 units at the output size."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..contract import quantize_depth


def resize_depth(depth: np.ndarray, size: int) -> np.ndarray:
    """A float depth map to size×size (bilinear), unchanged when it has that size already."""
    if depth.shape == (size, size):
        return depth
    return np.asarray(Image.fromarray(depth.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR))


def _prior_at_output_size(backend) -> bool:
    """A backend that works on the CPU at the output size (the planar prior), not a device model."""
    return not hasattr(backend, "predict_units") and getattr(backend, "input_size", None) is None


def reads_masks_only(backend) -> bool:
    """Whether `depth_units` needs only the masks at the output size from this backend (the planar
    prior), so no stack of composites need be made for it."""
    return hasattr(backend, "units_from_masks") and _prior_at_output_size(backend)


def of_objects(backend) -> bool:
    """Whether the backend gives units and their sums straight from each sample's own object (its
    box and silhouette: the planar prior's `units_of_objects`), so neither masks nor composites
    need be stacked for it."""
    return hasattr(backend, "units_of_objects") and _prior_at_output_size(backend)


def depth_units(backend, images: np.ndarray | None, masks: np.ndarray | None, size: int, scale: float,
                quantum: int) -> np.ndarray:
    """uint16 N×size×size depth in units of `scale`, in steps of `quantum`, by the cheapest path the
    backend offers: a model resizes and rounds on its device (`predict_units`); the planar prior
    turns masks into units directly at the output size (images may then be None); anything else
    predicts metres, which are resized and quantised here."""
    if hasattr(backend, "predict_units"):
        return backend.predict_units(images, size, scale, quantum)
    if hasattr(backend, "units_from_masks") and (images is None or images.shape[1:3] == (size, size)):
        return backend.units_from_masks(masks, scale, quantum)
    metres = backend.predict(images, masks)
    return np.stack([quantize_depth(resize_depth(m, size), scale, quantum) for m in metres])
