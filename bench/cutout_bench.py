"""What `fgbg-depth cutout` costs besides the model, by photo size, on this machine's CPU.

    python bench/cutout_bench.py [--sizes 640x480,1920x1080,4000x3000] [--photos 11] [--runs 3]

The model is the stand-in of tools/make_cutout_demo.py (a green-screen key in BiRefNet's ONNX layout,
here at BiRefNet's 1024×1024 input): it costs next to nothing, so what is timed is our own work around
a model, per photo, one core: decode (with the SHA-256 and the review thumbnail), resize and normalise
to the model's input, the model, the probabilities back at the photo's size, the checks, the colour
estimate and crop, and the PNG. Then whole commands with --workers 1 and 2: wall time per photo and
peak memory of the process tree. The real BiRefNet's own speed cannot be measured here: its weights
cannot be downloaded on these machines, so none is estimated.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402

import make_cutout_demo  # noqa: E402
from bench.pipeline_bench import run_watched  # noqa: E402
from fgbg_depth.assets import file_sha256, open_photo  # noqa: E402
from fgbg_depth.cutout.checks import check_probabilities  # noqa: E402
from fgbg_depth.cutout.colour import cutout_rgba  # noqa: E402
from fgbg_depth.cutout.models import get_matting  # noqa: E402
from fgbg_depth.cutout.review import photo_thumbnail  # noqa: E402
from fgbg_depth.cutout.run import encode_png  # noqa: E402

MODEL_SIZE = 1024
STAGES = ("decode", "resize+normalise", "model (stand-in)", "probabilities", "checks", "colour+crop", "png")


def stage_times(photos: list[Path], matting) -> dict[str, float]:
    """Seconds per photo of each stage, in this process (one core for our code)."""
    spent = dict.fromkeys(STAGES, 0.0)
    for path in photos:
        clock = time.perf_counter()

        def lap(stage):
            nonlocal clock
            now = time.perf_counter()
            spent[stage] += now - clock
            clock = now

        file_sha256(path)
        rgb = np.asarray(open_photo(path))
        photo_thumbnail(rgb)
        lap("decode")
        x = matting.preprocess(rgb)
        lap("resize+normalise")
        logits = matting.logits(x[None])[0]
        lap("model (stand-in)")
        prob = matting.restore(logits, rgb.shape[:2])
        lap("probabilities")
        check_probabilities(prob)
        lap("checks")
        made = cutout_rgba(rgb, prob)
        lap("colour+crop")
        if made is not None:
            encode_png(made[0])
        lap("png")
    return {k: v / len(photos) for k, v in spent.items()}


def whole_command(photos: Path, model: Path, out: Path, workers: int) -> tuple[float, int]:
    """(wall seconds, peak RSS of the process tree) of one `fgbg-depth cutout` run into a new folder."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "fgbg_depth", "cutout", str(photos), "--out", str(out), "--model", str(model),
           "--workers", str(workers), "--quiet"]
    wall, peak, proc = run_watched(cmd, every=0.05)
    if proc.returncode != 0:
        raise SystemExit(f"cutout failed: {proc.stderr.read().decode()[-400:]}")
    return wall, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="640x480,1920x1080,4000x3000")
    parser.add_argument("--photos", type=int, default=11, help="photos per size (the demo's set, cycled) [11]")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement; the median is printed [3]")
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    import onnxruntime
    print(f"cutout bench: stand-in model at {MODEL_SIZE}×{MODEL_SIZE}, onnxruntime {onnxruntime.__version__}, "
          f"median of {args.runs} runs; times per photo")
    with tempfile.TemporaryDirectory(prefix="fgbg-cutout-bench-") as tmp:
        tmp = Path(tmp)
        model = tmp / "model"
        make_cutout_demo.make_model(model, MODEL_SIZE)
        matting = get_matting(str(model), device="cpu")
        for w, h in sizes:
            folder = tmp / f"photos{w}x{h}"
            made = make_cutout_demo.make_photos(folder, (w, h))
            photos = [made[i % len(made)] for i in range(args.photos)]
            runs = [stage_times(photos, matting) for _ in range(args.runs)]
            per = {k: statistics.median(r[k] for r in runs) for k in STAGES}
            ours = sum(v for k, v in per.items() if k != "model (stand-in)")
            print(f"{w}x{h} ({w * h / 1e6:.1f} MP), one core: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in per.items())
                  + f"; ours {ours * 1e3:.0f} ms = {1 / ours:.1f} photos/s")
            for workers in (1, 2):
                results = [whole_command(folder, model, tmp / "out", workers) for _ in range(args.runs)]
                wall = statistics.median(r[0] for r in results)
                peak = max(r[1] for r in results)
                print(f"{w}x{h}, `fgbg-depth cutout --workers {workers}` ({len(made)} photos, start-up included): "
                      f"{wall / len(made) * 1e3:.0f} ms per photo, {wall:.2f} s in all, peak RSS "
                      f"{peak / 2**20:.0f} MiB (process tree)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
