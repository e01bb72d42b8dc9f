"""The job: everything a worker needs to make any shard of a run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..assets import SourceFile
from ..contract import DEPTH_QUANTUM, DEPTH_SCALE, marker_name, state_path
from ..plan import Plan, ShardSpec
from ..scene import SceneOptions


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
    categories: tuple[str, ...] | None = None  # the foregrounds' category names; each SourceFile has its id

    @property
    def with_depth(self) -> bool:
        return self.depth != "none"

    def shard_path(self, spec: ShardSpec) -> Path:
        return Path(self.out) / "data" / spec.filename

    def marker_path(self, spec: ShardSpec) -> Path:
        return state_path(self.out, "shards", marker_name(spec.split, spec.index))

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
