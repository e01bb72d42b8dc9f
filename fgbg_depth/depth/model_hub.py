"""Depth model checkpoints: a folder, or a Hub model repository fetched through huggingface_hub.

Downloads go through `huggingface_hub.snapshot_download`, so they use the user's cache (HF_HOME),
token (HF_TOKEN or `hf auth login`), HF_ENDPOINT and HF_HUB_OFFLINE like every other Hub tool, and
resolve the revision to a commit sha, which the card records and the workers of a run load by.
`cached_model` never touches the network: it is how `--depth auto` looks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FgBgError
from ..model_repo import card_license, fetch_snapshot, is_repo_id
from .checkpoint import FILES, CheckpointError, checkpoint_info, parse_config
from .safetensors_file import SafetensorsFile


@dataclass
class Checkpoint:
    """A checkpoint folder on this machine, and where it came from."""

    source: str  # what the user named: a repo id or a folder
    path: Path
    repo_id: str | None = None
    revision: str | None = None  # the commit sha of a Hub model
    license: str = "unknown"
    _sha256: str | None = field(default=None, repr=False)

    def architecture(self):
        config, pre = checkpoint_info(self.path)
        return parse_config(config, self.source, pre)

    def weights(self) -> SafetensorsFile:
        path = self.path / "model.safetensors"
        if not path.is_file():
            others = sorted(p.name for p in self.path.glob("*.bin")) or sorted(p.name for p in self.path.iterdir())
            raise CheckpointError(f"'{self.source}' has no model.safetensors (found: {', '.join(others[:4]) or 'nothing'}); "
                                  "only safetensors checkpoints are loaded")
        return SafetensorsFile(path)

    @property
    def weights_sha256(self) -> str:
        if self._sha256 is None:
            digest = hashlib.sha256()
            with open(self.path / "model.safetensors", "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            self._sha256 = digest.hexdigest()
        return self._sha256

    def describe(self, precision: str, input_size) -> dict:
        """What the card and the run's fingerprint record; needs no model built (a Ray driver)."""
        arch = self.architecture()
        weights = self.weights()
        return {"backend": "depth-anything", "model": self.repo_id or Path(self.source).name,
                "revision": self.revision, "license": self.license, "weights_sha256": self.weights_sha256,
                "parameters": int(sum(_prod(s) for s in weights.shapes.values())),
                "precision": precision, "input_size": [int(v) for v in input_size],
                "output_size": [int(v) for v in input_size], "depth_type": arch.kind,
                "units": "metres" if arch.kind == "metric" else "relative inverse depth (no unit)",
                "max_m": arch.max_depth if arch.kind == "metric" else None,
                "postprocess": "resize_taps + rounding on the device"}


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _fetch_ahead(model: str) -> str:
    return (f"fetch it ahead where the Hub can be reached (`hf download {model}`, then copy HF_HOME), or pass "
            "--depth-model with a folder that holds config.json and model.safetensors")


def fetch_model(model: str, revision: str | None = None, local_only: bool = False) -> Checkpoint:
    """A folder as it is, or a Hub model repository's config, weights and card (downloaded unless
    cached, or only from the cache with `local_only`). Failures are one-line FgBgErrors."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        checkpoint_info(folder)  # a folder without config.json fails here, with its name
        return Checkpoint(source=str(folder), path=folder, license=card_license(folder))
    if not is_repo_id(model):
        raise FgBgError(f"depth model '{model}' is neither a folder nor a Hub model id like 'owner/name'")
    path, sha = fetch_snapshot(model, revision, list(FILES), f"depth model '{model}'", _fetch_ahead(model), local_only)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"depth model '{model}' has no config.json: not a checkpoint in the transformers layout")
    return Checkpoint(source=model, path=path, repo_id=model, revision=sha, license=card_license(path))


def cached_model(model: str, revision: str | None = None) -> Checkpoint | None:
    """The checkpoint if it is a folder or already in the Hub cache; None otherwise. Never downloads."""
    try:
        return fetch_model(model, revision, local_only=True)
    except FgBgError:
        return None
