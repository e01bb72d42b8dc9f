import os
import subprocess
import tempfile
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# never see a user's real weights cache or configuration
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="fgbg-cache-")
os.environ.pop("FGBG_DEPTH_WEIGHTS", None)


def run_cli(*args, cwd=None, env=None, timeout=600):
    """Run `python -m fgbg_depth ...` as a user would; returns CompletedProcess (text)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "fgbg_depth", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=full_env, timeout=timeout)


def write_background(path: Path, seed: int = 0, size=(64, 48)):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def write_foreground(path: Path, seed: int = 0, size=(32, 40)):
    """An RGBA cut-out: an opaque ellipse, soft at the edge, in a transparent frame."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    r = ((xx - w / 2 + 0.5) / (w / 2.2)) ** 2 + ((yy - h / 2 + 0.5) / (h / 2.2)) ** 2
    alpha = np.clip((1.0 - r) * 4 * 255, 0, 255).astype(np.uint8)
    rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.dstack([rgb, alpha])).save(path)
    return path


@pytest.fixture
def small_inputs(tmp_path):
    """3 backgrounds and 2 foregrounds written by the test."""
    bgs, fgs = tmp_path / "bgs", tmp_path / "fgs"
    for i in range(3):
        write_background(bgs / f"bg{i}.png", seed=i, size=(64 + 16 * i, 48))
    for i in range(2):
        write_foreground(fgs / f"fg{i}.png", seed=10 + i, size=(30 + 10 * i, 40))
    return bgs, fgs


@pytest.fixture(scope="session")
def sample_out(tmp_path_factory):
    """The bundled sample inputs, 2 placements, 2 workers: a complete dataset folder for read-only tests."""
    out = tmp_path_factory.mktemp("sample") / "out"
    res = run_cli("generate", "--out", out, "--placements", "2", "--size", "64", "--workers", "2",
                  "--shard-rows", "100", "--quiet")
    assert res.returncode == 0, res.stderr
    return out
