"""Samples/s of `--engine local` against `--engine ray` on this machine (planar depth, 160 px).

    python bench/engine_bench.py [--placements 79] [--workers 2] [--runs 3]

Bundled inputs, 8 × 8 × 2 × 79 = 10,112 samples. Three figures, each the median of --runs runs:
local engine (whole command); ray engine as a command (it starts and stops a private Ray, as a
user without a cluster pays); ray engine inside a Ray that is already running (what a cluster
user pays per run). The two commands take turns, so a slow spell of the machine falls on both.
Overhead = 1 - ray rate / local rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed_cli(out: Path, placements: int, workers: int, engine: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fgbg_depth", "generate", "--out", str(out), "--placements",
                    str(placements), "--depth", "planar", "--workers", str(workers), "--engine", engine, "--quiet"],
                   check=True, capture_output=True, env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--placements", type=int, default=79)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    n = 8 * 8 * 2 * args.placements
    with tempfile.TemporaryDirectory(prefix="fgbg-engines-") as tmp:
        tmp = Path(tmp)
        pairs = [(timed_cli(tmp / "l", args.placements, args.workers, "local"),
                  timed_cli(tmp / "r", args.placements, args.workers, "ray")) for _ in range(args.runs)]
        local = statistics.median(p[0] for p in pairs)
        cold = statistics.median(p[1] for p in pairs)
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        import ray

        from fgbg_depth.generate import GenerateOptions, generate
        ray.init(num_cpus=args.workers, log_to_driver=False, include_dashboard=False, configure_logging=False,
                 _node_ip_address="127.0.0.1")
        warm_runs = []
        for _ in range(args.runs + 1):  # the first run warms Ray's worker processes
            shutil.rmtree(tmp / "w", ignore_errors=True)
            t0 = time.perf_counter()
            generate(GenerateOptions(out=str(tmp / "w"), placements=args.placements, depth="planar",
                                     workers=args.workers, engine="ray", progress=False))
            warm_runs.append(time.perf_counter() - t0)
        ray.shutdown()
        warm = statistics.median(warm_runs[1:])
    print(f"engines: {n} samples, {args.workers} workers, median of {args.runs}")
    print(f"engine local              {n / local:8.1f} samples/s  ({local:.1f} s)")
    print(f"engine ray, own Ray       {n / cold:8.1f} samples/s  ({cold:.1f} s, overhead {1 - local / cold:.0%})")
    print(f"engine ray, Ray running   {n / warm:8.1f} samples/s  ({warm:.1f} s, overhead {1 - local / warm:.0%})")


if __name__ == "__main__":
    main()
