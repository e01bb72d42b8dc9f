"""Tiny random Depth Anything checkpoints in the transformers layout, and transformers' own output
for a fixed input: what the tests compare fgbg-depth's Keras port with.

    python tools/make_tiny_depth_anything.py        # needs transformers and torch (CPU is fine)

writes tests/data/depth_anything/{metric,relative}/ (config.json, model.safetensors, README.md) and
reference.npz: transformers' predicted depth for `reference_image()` at 448×448, every third pixel
of it in each direction (rows and columns 0, 3, …, 447: both borders included). The tests use
the committed files everywhere, and where transformers and torch are installed they also build a
fresh checkpoint with `make_checkpoint` and compare live.

The models are small (hidden size 32, 5 blocks) but keep the real ones' shape of things: a 518 px
position-embedding grid (37×37, so a 448 px input resizes it, as for the released checkpoints),
stages that skip blocks, every reassemble factor (4, 2, 1, 0.5), and every tensor random, biases and
norms included, so a tensor loaded into the wrong place changes the output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "depth_anything"
SIZE = 448
REFERENCE_STEP = 3  # 447 = 3 × 149: the sampled grid keeps the last row and column
TINY = dict(hidden_size=32, num_hidden_layers=5, num_attention_heads=2, image_size=518, patch_size=14,
            out_indices=[2, 3, 4, 5], reshape_hidden_states=False)
NECK = dict(reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 24, 32], fusion_hidden_size=16, head_hidden_size=8)
LICENSES = {"metric": "apache-2.0", "relative": "cc-by-nc-4.0"}


def reference_image(seed: int = 7, size: int = SIZE) -> np.ndarray:
    """A fixed uint8 1×size×size×3 picture: smooth colour fields with some texture on top."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * xx + 2 * c) * np.cos(4 * yy - c) for c in range(3)], -1)
    img = 127.5 + 90 * base + rng.normal(0, 20, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)[None]


def pixel_values(images: np.ndarray, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)) -> np.ndarray:
    """What transformers' image processor hands the model for a picture already at the model's size."""
    x = images.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return x.transpose(0, 3, 1, 2).copy()


def make_checkpoint(folder: Path, kind: str = "metric", seed: int = 0, max_depth: int = 20):
    """A random transformers DepthAnythingForDepthEstimation saved to `folder`; returns the model."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)
    config = DepthAnythingConfig(backbone_config=Dinov2Config(**TINY), depth_estimation_type=kind,
                                 max_depth=max_depth if kind == "metric" else 1, **NECK)
    model = DepthAnythingForDepthEstimation(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("bias"):
                p.copy_(0.05 * noise)
            elif "norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif "lambda" in name:
                p.copy_(0.5 + 0.1 * noise)
            elif "embeddings" in name and "patch" not in name:
                p.copy_(0.5 * noise)
            else:
                p.copy_(noise / max(1.0, p[0].numel()) ** 0.5)
        if kind == "relative":  # most of a random head's output would fall below the final ReLU's 0
            model.head.conv3.bias.add_(2.0)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "do_normalize": True}))
    (folder / "README.md").write_text(f"---\nlicense: {LICENSES[kind]}\ntags:\n- depth-estimation\n---\n"
                                      f"# tiny random Depth Anything ({kind}), for tests only\n")
    return model


def transformers_depth(model, images: np.ndarray) -> np.ndarray:
    import torch
    with torch.no_grad():
        return model(pixel_values=torch.from_numpy(pixel_values(images))).predicted_depth.numpy()


def main() -> int:
    images = reference_image()
    for kind, seed in (("metric", 1), ("relative", 2)):
        folder = DATA / kind
        model = make_checkpoint(folder, kind, seed)
        depth = transformers_depth(model, images)
        np.savez_compressed(folder / "reference.npz", depth=depth[:, ::REFERENCE_STEP, ::REFERENCE_STEP].astype(np.float32),
                            step=REFERENCE_STEP, image_seed=7, size=SIZE)
        print(f"{folder}: depth {depth.shape}, range {depth.min():.4f}..{depth.max():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
