"""Depth Anything checkpoints in the transformers layout, read without building anything: the files a
checkpoint folder holds, `config.json` (+ `preprocessor_config.json`) → `Architecture`, and the one-line
errors for what is not such a checkpoint. Fetching from the Hub is `model_hub`'s; building the network
from an Architecture is `depth_anything`'s.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import FgBgError

DEFAULT_MODEL = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"
METRIC_MODELS = ("depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf (indoor, 20 m)",
                 "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf (outdoor, 80 m)")
FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "README.md")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# The architecture of the released Depth-Anything-V2-Metric-{Indoor,Outdoor}-Small-hf (ViT-S/14 at 518,
# stages 3/6/9/12, DPT neck 48-96-192-384, fusion 64): for benchmarks without the weights.
SMALL_CONFIG = {
    "model_type": "depth_anything", "depth_estimation_type": "metric", "max_depth": 20, "patch_size": 14,
    "reassemble_hidden_size": 384, "reassemble_factors": [4, 2, 1, 0.5], "neck_hidden_sizes": [48, 96, 192, 384],
    "fusion_hidden_size": 64, "head_hidden_size": 32, "head_in_index": -1,
    "backbone_config": {"model_type": "dinov2", "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
                        "mlp_ratio": 4, "image_size": 518, "patch_size": 14, "out_indices": [3, 6, 9, 12],
                        "reshape_hidden_states": False, "apply_layernorm": True, "layerscale_value": 1.0}}


class CheckpointError(FgBgError):
    """A checkpoint that is not a Depth Anything model this code can run; the message says why."""


@dataclass(frozen=True)
class Architecture:
    """What config.json decides, with transformers' defaults where a key is absent."""

    hidden: int
    layers: int
    heads: int
    mlp: int
    patch: int
    grid: int  # patches per side of the image size the position embeddings were trained at
    eps: float
    qkv_bias: bool
    stages: tuple[int, ...]  # 1-based blocks whose outputs feed the neck
    apply_layernorm: bool
    reassemble_hidden: int
    factors: tuple[float, ...]
    neck: tuple[int, ...]
    fusion: int
    head_hidden: int
    kind: str  # "metric" (metres) or "relative" (inverse depth up to scale)
    max_depth: float
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def parse_config(raw: dict, source: str, preprocessor: dict | None = None) -> Architecture:
    """config.json (and preprocessor_config.json, for the normalisation) → Architecture, or a
    one-line CheckpointError saying what the checkpoint is instead."""
    kind = raw.get("model_type")
    if kind != "depth_anything":
        what = {"dinov2": "a DINOv2 backbone without a depth head", "dpt": "a DPT model (not Depth Anything)",
                None: "not a transformers model"}.get(kind, f"a '{kind}' model")
        raise CheckpointError(f"'{source}' is {what}; use a Depth Anything checkpoint such as {METRIC_MODELS[0]}")
    bb = raw.get("backbone_config")
    if not isinstance(bb, dict):
        raise CheckpointError(f"'{source}' names its backbone '{raw.get('backbone')}' instead of describing it; "
                              "only checkpoints in the transformers layout with a DINOv2 backbone_config are supported")
    if bb.get("model_type", "dinov2") != "dinov2":
        raise CheckpointError(f"'{source}' has a '{bb.get('model_type')}' backbone; only DINOv2 is supported")
    unsupported = [(bb.get("use_swiglu_ffn", False), "a SwiGLU MLP (DINOv2 giant)"),
                   (bb.get("hidden_act", "gelu") != "gelu", f"activation {bb.get('hidden_act')}"),
                   (bb.get("reshape_hidden_states", True) and "reshape_hidden_states" in bb, "reshaped backbone outputs"),
                   (raw.get("head_in_index", -1) != -1, f"head_in_index {raw.get('head_in_index')}")]
    for flag, what in unsupported:
        if flag:
            raise CheckpointError(f"'{source}' uses {what}, which this Depth Anything port does not support")
    hidden = int(bb.get("hidden_size", 768))
    layers = int(bb.get("num_hidden_layers", 12))
    patch = int(bb.get("patch_size", 14))
    if int(raw.get("patch_size", patch)) != patch:
        raise CheckpointError(f"'{source}': patch_size {raw.get('patch_size')} differs from the backbone's {patch}")
    image = bb.get("image_size", 224)
    image = image[0] if isinstance(image, (list, tuple)) else image
    stages = bb.get("out_indices")
    if stages is None and bb.get("out_features"):
        stages = [int(re.sub(r"\D", "", f)) for f in bb["out_features"]]
    stages = tuple(int(i) for i in (stages or [layers]))
    neck = tuple(int(c) for c in raw.get("neck_hidden_sizes", (48, 96, 192, 384)))
    factors = tuple(float(f) for f in raw.get("reassemble_factors", (4, 2, 1, 0.5)))
    if not (len(stages) == len(neck) == len(factors)) or not all(1 <= s <= layers for s in stages):
        raise CheckpointError(f"'{source}': {len(stages)} backbone stages {list(stages)}, {len(neck)} neck sizes and "
                              f"{len(factors)} reassemble factors do not fit a {layers}-block backbone")
    if any(f not in (0.5, 1.0, 2.0, 4.0) and not (f > 1 and f == int(f)) for f in factors):
        raise CheckpointError(f"'{source}': reassemble factors {list(factors)} are not supported")
    depth_type = raw.get("depth_estimation_type", "relative")
    if depth_type not in ("metric", "relative"):
        raise CheckpointError(f"'{source}': unknown depth_estimation_type '{depth_type}'")
    heads = int(bb.get("num_attention_heads", 12))
    if hidden % heads:
        raise CheckpointError(f"'{source}': hidden size {hidden} is not a multiple of {heads} heads")
    pre = preprocessor or {}
    return Architecture(
        hidden=hidden, layers=layers, heads=heads, mlp=int(hidden * float(bb.get("mlp_ratio", 4))), patch=patch,
        grid=int(image) // patch, eps=float(bb.get("layer_norm_eps", 1e-6)), qkv_bias=bool(bb.get("qkv_bias", True)),
        stages=stages, apply_layernorm=bool(bb.get("apply_layernorm", True)),
        reassemble_hidden=int(raw.get("reassemble_hidden_size", 384)), factors=factors, neck=neck,
        fusion=int(raw.get("fusion_hidden_size", 64)), head_hidden=int(raw.get("head_hidden_size", 32)),
        kind=depth_type, max_depth=float(raw.get("max_depth") or 1.0),
        mean=tuple(float(v) for v in pre.get("image_mean", IMAGENET_MEAN)),
        std=tuple(float(v) for v in pre.get("image_std", IMAGENET_STD)))


def checkpoint_info(path: Path) -> tuple[dict, dict | None]:
    """config.json and preprocessor_config.json (None if absent) of a checkpoint folder."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except OSError:
        raise CheckpointError(f"'{path}' has no config.json: not a checkpoint in the transformers layout") from None
    except ValueError:
        raise CheckpointError(f"'{path}/config.json' is not JSON") from None
    try:
        pre = json.loads((path / "preprocessor_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pre = None
    return config, pre
