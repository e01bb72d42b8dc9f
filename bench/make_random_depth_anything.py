"""Write a Depth Anything V2 Small checkpoint with random weights in the transformers layout
(config.json + model.safetensors), for GPU smoke runs where the real one cannot be downloaded.
The speed is that of the released checkpoint; the depth is meaningless.

    python bench/make_random_depth_anything.py OUT_FOLDER
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from fgbg_depth.depth.checkpoint import SMALL_CONFIG, parse_config  # noqa: E402
from fgbg_depth.depth.depth_anything import build_model  # noqa: E402
from fgbg_depth.depth.safetensors_file import write_safetensors  # noqa: E402


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    _, targets = build_model(parse_config(SMALL_CONFIG, "V2 Small"), (518, 518))
    rng = np.random.default_rng(0)
    tensors = {}
    for name, target in targets.items():
        if name.endswith("bias"):
            value = np.zeros(target.shape)
        elif "norm" in name or "lambda" in name:
            value = np.ones(target.shape)
        else:
            value = rng.normal(0.0, 0.02, target.shape)
        tensors[name] = value.astype(np.float32)
    write_safetensors(folder / "model.safetensors", tensors)
    (folder / "config.json").write_text(json.dumps(SMALL_CONFIG, indent=2))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\nrandom weights, for benchmarks only\n")
    print(f"wrote {folder} ({sum(v.size for v in tensors.values()):,} parameters)")


if __name__ == "__main__":
    main(sys.argv[1])
