"""Which matting model a cut-out run uses: an ONNX file, a folder holding one, a Hub model repository
(fetched through the user's Hugging Face cache), or an installed plug-in; `get_matting` makes it.

A Hub repository in the layout of `onnx-community/BiRefNet_lite-ONNX` holds `onnx/model.onnx`,
`preprocessor_config.json` and a card whose YAML names the licence. The revision is resolved to a
commit once, and the records name the model, that commit, the licence and the weights' SHA-256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..assets import file_sha256
from ..errors import FgBgError
from ..model_repo import card_license, fetch_snapshot, is_non_commercial, is_repo_id
from ..plugins import installed, load

DEFAULT_MODEL = "onnx-community/BiRefNet_lite-ONNX"  # MIT; Swin-T backbone, ~44 M parameters
QUALITY_MODEL = "onnx-community/BiRefNet-ONNX"  # MIT; the full BiRefNet, ~220 M parameters
DEFAULT_FILE = "onnx/model.onnx"
ENTRY_POINT_GROUP = "fgbg_depth.matting"
REPO_FILES = ("config.json", "preprocessor_config.json", "README.md")


@dataclass(frozen=True)
class ModelSource:
    """An ONNX matting model on this machine, and where it came from."""

    onnx_path: Path
    preprocessor: dict | None
    model: str  # what the records call it: the repo id, or the file or folder's name
    revision: str | None  # the commit of a Hub model
    license: str

    def provenance(self) -> dict:
        return {"model": self.model, "revision": self.revision, "license": self.license,
                "weights_sha256": file_sha256(self.onnx_path), "non_commercial": is_non_commercial(self.license)}


def _fetch_ahead(model: str) -> str:
    return (f"fetch it ahead where the Hub can be reached (`hf download {model}`, then copy HF_HOME), or pass "
            "--model with a local .onnx file or a folder holding one")


def _preprocessor(folder: Path) -> dict | None:
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise FgBgError(f"'{path}' is not JSON") from None


def resolve_model(model: str = DEFAULT_MODEL, revision: str | None = None, model_file: str | None = None,
                  local_only: bool = False) -> ModelSource:
    """A .onnx file as it is (its folder's preprocessor_config.json and README.md if any), a folder
    holding `model_file` (default onnx/model.onnx, else a single .onnx file), or a Hub repository's
    `model_file` with its configs and card. Failures are one line."""
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".onnx":
            raise FgBgError(f"--model '{model}' is a file but not an .onnx file")
        return ModelSource(path, _preprocessor(path.parent), path.name, None, card_license(path.parent))
    if path.is_dir():
        onnx = path / model_file if model_file else _onnx_in(path)
        if not onnx.is_file():
            raise FgBgError(f"--model folder '{model}' has no '{model_file}'")
        return ModelSource(onnx, _preprocessor(path), path.name, None, card_license(path))
    if not is_repo_id(model):
        raise FgBgError(f"--model '{model}' is neither an .onnx file, a folder, an installed matting plug-in, "
                        "nor a Hub model id like 'owner/name'")
    wanted = model_file or DEFAULT_FILE
    folder, sha = fetch_snapshot(model, revision, [wanted, *REPO_FILES], f"matting model '{model}'",
                                 _fetch_ahead(model), local_only)
    onnx = folder / wanted
    if not onnx.is_file():
        raise FgBgError(f"matting model '{model}' has no '{wanted}'; name the ONNX file with --model-file "
                        "(e.g. onnx/model_fp16.onnx)")
    return ModelSource(onnx, _preprocessor(folder), model, sha, card_license(folder))


def _onnx_in(folder: Path) -> Path:
    if (folder / DEFAULT_FILE).is_file():
        return folder / DEFAULT_FILE
    found = sorted(folder.glob("*.onnx")) + sorted(folder.glob("onnx/*.onnx"))
    if len(found) != 1:
        raise FgBgError(f"--model folder '{folder}' holds {len(found)} .onnx files "
                        f"({', '.join(p.name for p in found[:4]) or 'none'}); name one with --model-file")
    return found[0]


def plugins() -> dict:
    """{name: entry point} of the installed matting plug-ins."""
    return installed(ENTRY_POINT_GROUP)


def get_matting(model: str = DEFAULT_MODEL, revision: str | None = None, device: str = "auto",
                batch_size: int | None = None, model_file: str | None = None, **options):
    """A matting backend: `input_size` (H, W), `predict(uint8 N×H×W×3) -> float32 N×H×W` probabilities
    in [0, 1], `describe()`. `model` is an installed plug-in's name (then `options` go to its factory),
    an .onnx file, a folder holding one, or a Hub model id (fetched unless cached)."""
    found = plugins()
    if model in found:
        return load("matting plug-in", model, found[model], options, ("predict", "describe", "input_size"))
    if options:
        raise FgBgError(f"--model-option is for matting plug-ins; '{model}' is an ONNX model")
    from .matting import OnnxMatting
    source = resolve_model(model, revision, model_file)
    return OnnxMatting(source.onnx_path, source.preprocessor, device=device, batch_size=batch_size,
                       info=source.provenance())
