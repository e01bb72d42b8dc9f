"""CPU pipeline benchmarks: ours against the notebook way, scaling, reading, size.

    python bench/pipeline_bench.py [cpu] [scaling] [reading] [size] [--placements 20] [--runs 5]

Every figure is printed as a plain line; timed figures are the median of --runs runs after a
warm-up run. Inputs are the bundled samples (8 backgrounds × 8 foregrounds), 160 px, planar depth.

- cpu: samples/s on one core for plan → compose → encode → Parquet (ours, `--workers 1`), and for a
  faithful re-implementation of the notebook way on the same samples, in the same process: PIL
  paste at 448, resize to 160, JPEG composite, PNG mask and 8-bit JPEG depth written into a zip.
- scaling: wall time and peak RSS (the whole process tree, sampled every 0.1 s) for 10,000 and
  100,000 samples with 2 workers.
- reading: samples/s of a loop that decodes all four images, from `datasets` (in memory and
  streaming) and from one-file-per-image folders holding the same samples.
- size: bytes per sample of our shards against the notebook's zip for the same samples.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from fgbg_depth.assets import load_inputs, open_background, open_foreground  # noqa: E402
from fgbg_depth.depth.planar import PlanarDepth  # noqa: E402
from fgbg_depth.generate import GenerateOptions, generate  # noqa: E402
from fgbg_depth.plan import Plan, place_foreground  # noqa: E402

SIZE = 160
NOTEBOOK_RES = 448


def median_rate(fn, n_items: int, runs: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        rates.append(n_items / (time.perf_counter() - t0))
    return statistics.median(rates), rates


def notebook_way(inputs, plan: Plan, zip_path: Path) -> None:
    """What users do today: per (bg, fg) load once, per sample paste at 448 with PIL, resize the
    composite and mask to 160, depth saved as an 8-bit JPEG, every file into a zip."""
    planar = PlanarDepth()
    with zipfile.ZipFile(zip_path, "w") as zf:
        for bg in inputs.backgrounds:
            bg_img = open_background(bg.path)
            side = min(bg_img.size)
            left, top = (bg_img.width - side) // 2, (bg_img.height - side) // 2
            bg448 = bg_img.crop((left, top, left + side, top + side)).resize((NOTEBOOK_RES, NOTEBOOK_RES))
            buf = io.BytesIO()
            bg448.resize((SIZE, SIZE)).save(buf, "JPEG")
            zf.writestr(f"bg/{bg.id}.jpg", buf.getvalue())
            for fg in inputs.foregrounds:
                fg_img = open_foreground(fg.path)
                for flip in (0, 1):
                    cut = fg_img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else fg_img
                    for k in range(plan.placements):
                        sid = plan.sample_id(bg.id, fg.id, flip, k)
                        x, y, w, h = place_foreground(plan.seed, sid, fg_img.width / fg_img.height).box(NOTEBOOK_RES)
                        piece = cut.resize((w, h))
                        comp = bg448.copy()
                        comp.paste(piece, (x, y), piece)
                        mask = Image.new("L", (NOTEBOOK_RES, NOTEBOOK_RES), 0)
                        mask.paste(piece.getchannel("A").point(lambda a: 255 if a else 0), (x, y))
                        comp160, mask160 = comp.resize((SIZE, SIZE)), mask.resize((SIZE, SIZE))
                        depth = planar.predict(np.asarray(comp160)[None], np.asarray(mask160)[None])[0]
                        depth8 = Image.fromarray((depth / 10.0 * 255).astype(np.uint8))
                        for name, im, fmt in (("fg_bg", comp160, "JPEG"), ("mask", mask160, "PNG"),
                                              ("depth", depth8, "JPEG")):
                            buf = io.BytesIO()
                            im.save(buf, fmt)
                            zf.writestr(f"{name}/{sid}.{'png' if fmt == 'PNG' else 'jpg'}", buf.getvalue())


def ours(out: Path, placements: int, workers: int = 1) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    return generate(GenerateOptions(out=str(out), placements=placements, size=SIZE, depth="planar",
                                     workers=workers, progress=False))


def bench_cpu_and_size(placements: int, runs: int, do_cpu: bool, do_size: bool, tmp: Path) -> None:
    inputs = load_inputs(None, None)
    plan = Plan(len(inputs.backgrounds), len(inputs.foregrounds), placements)
    n = plan.n_samples
    zip_path = tmp / "notebook.zip"
    if do_cpu:
        ours_rate, ours_all = median_rate(lambda: ours(tmp / "ours", placements), n, runs)
        nb_rate, nb_all = median_rate(lambda: notebook_way(inputs, plan, zip_path), n, runs)
        print(f"cpu: {n} samples, 1 core, median of {runs}")
        print(f"cpu ours      {ours_rate:8.1f} samples/s/core  (runs: {', '.join(f'{r:.0f}' for r in ours_all)})")
        print(f"cpu notebook  {nb_rate:8.1f} samples/s/core  (runs: {', '.join(f'{r:.0f}' for r in nb_all)})")
        print(f"cpu ratio     {ours_rate / nb_rate:8.2f} x")
    if do_size:
        if not (tmp / "ours").exists():
            ours(tmp / "ours", placements)
        if not zip_path.exists():
            notebook_way(inputs, plan, zip_path)
        data = sum(p.stat().st_size for p in (tmp / "ours" / "data").glob("*.parquet"))
        sources = sum(p.stat().st_size for p in (tmp / "ours" / "sources").glob("*.parquet"))
        zbytes = zip_path.stat().st_size
        print(f"size: {n} samples")
        print(f"size ours data/    {data / n:8.0f} bytes/sample  (fg_bg, bg, mask, 16-bit depth, metadata)")
        print(f"size ours +sources {(data + sources) / n:8.0f} bytes/sample")
        print(f"size notebook zip  {zbytes / n:8.0f} bytes/sample  (fg_bg, mask, 8-bit JPEG depth, bg once)")
        print(f"size ratio         {data / zbytes:8.2f} x")


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


def bench_scaling(tmp: Path) -> None:
    for placements in (79, 782):  # 8 × 8 × 2 × P ≈ 10,000 and 100,000 samples
        out = tmp / f"scale{placements}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "fgbg_depth", "generate", "--out", str(out), "--placements", str(placements),
               "--depth", "planar", "--workers", "2", "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        n = 8 * 8 * 2 * placements
        print(f"scaling {n:7d} samples, 2 workers: {wall:7.1f} s wall, {n / wall:7.1f} samples/s, "
              f"peak RSS {peak / 2**20:6.0f} MiB (whole process tree)  rc={proc.returncode}")
        shutil.rmtree(out, ignore_errors=True)


def bench_reading(placements: int, runs: int, tmp: Path) -> None:
    import datasets
    from datasets import load_dataset
    datasets.disable_progress_bars()
    out = tmp / "ours"
    if not out.exists():
        ours(out, placements)
    folders = tmp / "folders"
    shutil.rmtree(folders, ignore_errors=True)
    raw = load_dataset(str(out), split="train").cast_column("fg_bg", datasets.Image(decode=False))
    for col in ("bg", "mask", "depth"):
        raw = raw.cast_column(col, datasets.Image(decode=False))
    for col in ("fg_bg", "bg", "mask", "depth"):
        (folders / col).mkdir(parents=True)
    for row in raw:
        sid = row["sample_id"]
        for col, ext in (("fg_bg", "jpg"), ("bg", "jpg"), ("mask", "png"), ("depth", "png")):
            (folders / col / f"{sid}.{ext}").write_bytes(row[col]["bytes"])
    ids = raw["sample_id"]
    n = len(ids)

    def decode_all(rows):
        for row in rows:
            for col in ("fg_bg", "bg", "mask", "depth"):
                np.asarray(row[col])

    def from_folders():
        for sid in ids:
            for col, ext in (("fg_bg", "jpg"), ("bg", "jpg"), ("mask", "png"), ("depth", "png")):
                np.asarray(Image.open(folders / col / f"{sid}.{ext}"))

    in_memory = load_dataset(str(out), split="train")
    rate_mem, _ = median_rate(lambda: decode_all(in_memory), n, runs)
    rate_stream, _ = median_rate(lambda: decode_all(load_dataset(str(out), split="train", streaming=True)), n, runs)
    rate_folder, _ = median_rate(from_folders, n, runs)
    print(f"reading: {n} train samples, all four images decoded, 1 process, median of {runs}")
    print(f"reading datasets in memory {rate_mem:8.1f} samples/s")
    print(f"reading datasets streaming {rate_stream:8.1f} samples/s")
    print(f"reading image folders      {rate_folder:8.1f} samples/s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", default=["cpu", "size", "scaling", "reading"])
    ap.add_argument("--placements", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fgbg-bench-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("HF_HOME", str(tmp / "hf"))
        if "cpu" in args.which or "size" in args.which:
            bench_cpu_and_size(args.placements, args.runs, "cpu" in args.which, "size" in args.which, tmp)
        if "scaling" in args.which:
            bench_scaling(tmp)
        if "reading" in args.which:
            bench_reading(args.placements, args.runs, tmp)


if __name__ == "__main__":
    main()
