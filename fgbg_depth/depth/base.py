"""The depth backend protocol and the registry behind `get_backend`."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import FgBgError


class DepthBackend(Protocol):
    name: str
    #: (H, W) the composites must have, or None when any size will do (depth comes out at that size)
    input_size: tuple[int, int] | None

    def predict(self, images: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """uint8 N×H×W×3 composites → float32 N×h×w depth in metres (0 where unknown).
        `masks` (uint8 N×H×W, 255 on the pasted object) is a hint some backends use."""

    def describe(self) -> dict:
        """What the card records about this backend (name, weights, checksum, ...)."""


def get_backend(name: str, **options) -> DepthBackend:
    """`planar`, `densedepth` (needs `weights=`) or `none` (returns None: no depth column)."""
    if name == "planar":
        from .planar import PlanarDepth
        return PlanarDepth(**options)
    if name == "densedepth":
        from .densedepth import DenseDepth
        return DenseDepth(**options)
    if name == "none":
        return None
    raise FgBgError(f"unknown depth backend '{name}'; choose auto, densedepth, planar or none")
