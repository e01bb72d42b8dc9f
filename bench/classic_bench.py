"""The classic full set on this machine: 100 backgrounds × 100 foregrounds × 2 flips × 20 placements
= 400,000 samples, 160 px, planar depth, 2 workers. Prints wall time, samples/s and the peak RSS of
the whole process tree (sampled every 0.2 s).

    python bench/classic_bench.py [--workers 2] [--keep DIR]

The 100 + 100 inputs are variants of the bundled samples (crops, mirrors, colour shifts, stretches),
made here with a fixed seed, so every run sees the same files.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.pipeline_bench import _tree_rss  # noqa: E402
from fgbg_depth.assets import SAMPLES  # noqa: E402


def make_inputs(root: Path, n: int = 100) -> tuple[Path, Path]:
    rng = np.random.default_rng(2024)
    bgs, fgs = root / "bgs", root / "fgs"
    bgs.mkdir(parents=True)
    fgs.mkdir(parents=True)
    bg_src = sorted((SAMPLES / "backgrounds").iterdir())
    fg_src = sorted((SAMPLES / "foregrounds").iterdir())
    for i in range(n):
        im = Image.open(bg_src[i % len(bg_src)]).convert("RGB")
        side = int(im.width * rng.uniform(0.6, 1.0))
        x, y = rng.integers(0, im.width - side + 1), rng.integers(0, im.height - side + 1)
        arr = np.asarray(im.crop((x, y, x + side, y + side)), np.float32) * rng.uniform(0.75, 1.2, 3)
        out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        if rng.random() < 0.5:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.save(bgs / f"bg{i:03d}.jpg", quality=90)
    for i in range(n):
        im = Image.open(fg_src[i % len(fg_src)]).convert("RGBA")
        arr = np.asarray(im, np.float32).copy()
        arr[..., :3] *= rng.uniform(0.7, 1.25, 3)
        out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGBA")
        out = out.resize((int(out.width * rng.uniform(0.8, 1.25)), out.height))
        out.save(fgs / f"fg{i:03d}.png")
    return bgs, fgs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", help="keep the dataset in this folder (default: a temporary one)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fgbg-classic-") as tmp:
        tmp = Path(tmp)
        bgs, fgs = make_inputs(tmp)
        out = Path(args.keep) if args.keep else tmp / "out"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "fgbg_depth", "generate", "--out", str(out), "--backgrounds", str(bgs),
               "--foregrounds", str(fgs), "--placements", "20", "--depth", "planar", "--workers", str(args.workers),
               "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        stdout, stderr = proc.communicate()
        n = 100 * 100 * 2 * 20
        data = sum(p.stat().st_size for p in (out / "data").glob("*.parquet")) if proc.returncode == 0 else 0
        print(f"classic: {stdout.strip() or stderr.strip()[-300:]}")
        print(f"classic {n} samples, {args.workers} workers: {wall:.1f} s wall ({wall / 60:.1f} min), "
              f"{n / wall:.1f} samples/s, peak RSS {peak / 2**20:.0f} MiB (whole process tree), "
              f"{data / n:.0f} bytes/sample, rc={proc.returncode}")


if __name__ == "__main__":
    main()
