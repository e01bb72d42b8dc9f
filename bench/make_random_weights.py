"""Write a DenseDepth weights file with random values in the Keras 2.2.4 layout (for smoke runs
where the real nyu.h5 cannot be downloaded). Usage: python bench/make_random_weights.py OUT.h5"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
from keras2_h5 import model_layers, write_keras2_h5  # noqa: E402

from fgbg_depth.depth.densedepth import build_model  # noqa: E402

write_keras2_h5(sys.argv[1], model_layers(build_model((32, 32)), np.random.default_rng(0)))
print(f"wrote {sys.argv[1]}")
