"""Depth model checkpoints: a folder, or a Hub model repository fetched through huggingface_hub.

Downloads go through `huggingface_hub.snapshot_download`, so they use the user's cache (HF_HOME),
token (HF_TOKEN or `hf auth login`), HF_ENDPOINT and HF_HUB_OFFLINE like every other Hub tool, and
resolve the revision to a commit sha, which the card records and the workers of a run load by.
`cached_model` never touches the network: it is how `--depth auto` looks.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FgBgError
from .depth_anything import FILES, CheckpointError, checkpoint_info, parse_config
from .safetensors_file import SafetensorsFile

_SHA = re.compile(r"^[0-9a-f]{40}$")


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


def _card_license(path: Path) -> str:
    """The `license` of a model card's YAML (its `license_name` when it says 'other'), else unknown."""
    from .. import read_card_metadata
    try:
        meta = read_card_metadata((path / "README.md").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return "unknown"
    except Exception:  # YAML that does not parse
        return "unknown"
    lic = meta.get("license")
    if lic == "other" and meta.get("license_name"):
        lic = meta["license_name"]
    return str(lic) if lic else "unknown"


def _fetch_ahead(model: str) -> str:
    return (f"fetch it ahead where the Hub can be reached (`hf download {model}`, then copy HF_HOME), or pass "
            "--depth-model with a folder that holds config.json and model.safetensors")


def fetch_model(model: str, revision: str | None = None, local_only: bool = False) -> Checkpoint:
    """A folder as it is, or a Hub model repository's config, weights and card (downloaded unless
    cached, or only from the cache with `local_only`). Failures are one-line FgBgErrors."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        checkpoint_info(folder)  # a folder without config.json fails here, with its name
        return Checkpoint(source=str(folder), path=folder, license=_card_license(folder))
    if model.count("/") != 1 or not all(model.split("/")) or model.startswith((".", "/", "~")):
        raise FgBgError(f"depth model '{model}' is neither a folder nor a Hub model id like 'owner/name'")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)
    try:
        path = Path(snapshot_download(model, revision=revision, allow_patterns=list(FILES), local_files_only=local_only))
    except GatedRepoError:
        raise FgBgError(f"depth model '{model}' is gated: accept its conditions on its Hub page, then log in "
                        "(`hf auth login` or HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise FgBgError(f"depth model '{model}' not found on the Hub at {constants.ENDPOINT} (or it is private: "
                        "log in with `hf auth login` or set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise FgBgError(f"depth model '{model}' has no revision '{revision}'") from None
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else (
            "only the cache was searched" if local_only else f"the Hub at {constants.ENDPOINT} cannot be reached")
        raise FgBgError(f"depth model '{model}' is not in the local Hugging Face cache and {why}; "
                        f"{_fetch_ahead(model)}") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise FgBgError(f"the Hub answered HTTP {status} while fetching depth model '{model}'; try again later, "
                        f"or {_fetch_ahead(model)}") from None
    except OSError as exc:
        raise FgBgError(f"cannot fetch depth model '{model}' ({exc.strerror or type(exc).__name__}); "
                        f"{_fetch_ahead(model)}") from None
    if not (path / "config.json").is_file():
        raise CheckpointError(f"depth model '{model}' has no config.json: not a checkpoint in the transformers layout")
    sha = path.name if _SHA.match(path.name) else None
    return Checkpoint(source=model, path=path, repo_id=model, revision=sha, license=_card_license(path))


def cached_model(model: str, revision: str | None = None) -> Checkpoint | None:
    """The checkpoint if it is a folder or already in the Hub cache; None otherwise. Never downloads."""
    try:
        return fetch_model(model, revision, local_only=True)
    except FgBgError:
        return None
