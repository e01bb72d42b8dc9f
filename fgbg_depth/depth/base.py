"""The depth backend protocol, the registry behind `get_backend`, and plug-in discovery.

Built in: `depth-anything` (Depth Anything V2 from the Hub, the recommended backend), `densedepth`,
`planar` (no weights) and `none`. Other packages add backends through the entry-point group
`fgbg_depth.backends`: each entry point names a factory, `factory(**options) -> backend`, and
`pip install` of such a package makes `--depth NAME` work.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import FgBgError
from ..plugins import describe_entry_point, installed, load

ENTRY_POINT_GROUP = "fgbg_depth.backends"
BUILTIN = ("depth-anything", "densedepth", "planar", "none")
MODEL_BACKENDS = ("depth-anything", "densedepth")  # built-ins that run a model on a device


class DepthBackend(Protocol):
    name: str
    #: (H, W) the composites must have, or None when any size will do (depth comes out at that size)
    input_size: tuple[int, int] | None

    def predict(self, images: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """uint8 N×H×W×3 composites → float32 N×h×w depth in metres (0 where unknown).
        `masks` (uint8 N×H×W, 255 on the pasted object) is a hint some backends use."""

    def describe(self) -> dict:
        """What the card records about this backend: at least "backend" and "max_m", the largest
        depth it gives (65535 stored units span 0..max_m)."""


def plugins() -> dict:
    """{name: entry point} of the installed depth plug-ins (built-in names cannot be taken)."""
    return installed(ENTRY_POINT_GROUP, BUILTIN)


def backend_names() -> list[str]:
    return [*BUILTIN, *sorted(plugins())]


def runs_model(backend) -> bool:
    """A model backend: loaded once per engine process and fed batches (`dispatch_units`/`fetch`)."""
    return all(hasattr(backend, attr) for attr in ("dispatch_units", "fetch", "batch_size"))


def get_backend(name: str, **options) -> DepthBackend:
    """`depth-anything` (model=, revision=, precision=, input_size=), `densedepth` (weights=, ...),
    `planar`, `none` (returns None: no depth column), or an installed plug-in's name."""
    if name == "planar":
        from .planar import PlanarDepth
        return PlanarDepth(**options)
    if name == "densedepth":
        from .densedepth import DenseDepth
        return DenseDepth(**options)
    if name == "depth-anything":
        from .depth_anything import DepthAnything
        return DepthAnything(**options)
    if name == "none":
        return None
    found = plugins()
    if name not in found:
        raise FgBgError(f"unknown depth backend '{name}'; choose {', '.join(['auto', *backend_names()])}")
    return _load_plugin(name, found[name], options)


def _load_plugin(name: str, ep, options: dict):
    backend = load("depth plug-in", name, ep, options, ("predict", "describe", "input_size"))
    info = backend.describe()
    if not isinstance(info, dict) or not isinstance(info.get("max_m"), (int, float)) or not info["max_m"] > 0:
        where = describe_entry_point("depth plug-in", name, ep)
        raise FgBgError(f"{where}: describe() must give 'max_m', the largest depth in metres it returns")
    return backend
