"""CPU pipeline benchmarks: ours against the notebook way, scaling, reading, size.

    python bench/pipeline_bench.py [cpu] [scaling] [reading] [size] [scene] [command] [sizes] [feed]
                                   [--inputs bundled|photos|small_photos] [--placements P] [--runs 5]
                                   [--sizes 160,224,320,448]

Every figure is printed as a plain line; timed figures are the median of --runs runs after a
warm-up run. Inputs are the bundled samples (8 backgrounds × 8 foregrounds, flat drawings, 20
placements by default); with --inputs photos, bench/photos (10 × 10, crops of public-domain and CC0
photographs with soft-edged cut-outs: tools/make_photo_inputs.py; 30 placements, 6,000 samples),
which cost what real photographs cost; with --inputs small_photos, bench/small_photos (10 × 6:
224 px background photographs and 200 px cut-outs of people, what a new user tries first:
tools/make_small_photo_inputs.py; 50 placements, 6,000 samples); 160 px, planar depth.

- cpu: samples/s on one core for plan → compose → encode → Parquet (ours, `--workers 1`), and for a
  faithful re-implementation of the notebook way on the same samples, in the same process: PIL
  paste at 448, resize to 160, JPEG composite, PNG mask and 8-bit JPEG depth written into a zip.
- scaling: wall time and peak RSS (the whole process tree, sampled every 0.1 s) for 10,000 and
  100,000 samples with 2 workers.
- reading: samples/s of a loop that decodes all four images, from `datasets` (in memory and
  streaming) and from one-file-per-image folders holding the same samples.
- size: bytes per sample of our shards against the notebook's zip for the same samples.
- scene: samples/s on one core for each --blend mode and for --objects 1 and 3 (with --alpha), and
  each one's cost against plain pasting (not run by default).
- command: whole commands, as a user waits for them: `fgbg-depth generate --workers 1` as a process
  (start-up, inputs, plan, shards, sources, card) and the notebook way as a process of its own, the
  two taking turns --runs times (not run by default).
- sizes: per --sizes (160, 224, 320, 448), on one core: our samples/s (in process, `--workers 1`),
  the floor our output format sets (the encoders alone on the same pictures, taken a few at a time
  from the cache as ours are: JPEG encode of `fg_bg` and its decode for the statistics, the mask's
  and the depth's grey PNGs, by codecs.py's general functions), the two taking turns shard by shard
  within each run (after each of our shards, the floor on as many pictures as it had samples, its
  time taken out of ours), our cost as a multiple of it (the median of each run's own ratio), bytes
  per sample, and the peak RSS of `generate --workers 1` as a process.
  Both sides are timed in this process's CPU time, which a busy machine moves far less than wall
  time (the wall rate is printed too).
- feed: what one sample costs the CPU in a model run (compositing at the output size and at the
  model's input size, encoding, the shard), per core; and so how many cores keep one GPU fed at
  1,500 and 2,500 depth maps/s (not run by default).
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
SIZES = (160, 224, 320, 448)
NOTEBOOK_RES = 448
INPUTS = {"bundled": (None, None),
          **{name: (str(ROOT / "bench" / name / "backgrounds"), str(ROOT / "bench" / name / "foregrounds"))
             for name in ("photos", "small_photos")}}
PLACEMENTS = {"bundled": 20, "photos": 30, "small_photos": 50}  # 2,560 and 6,000 samples


def pin_to_one_core() -> int:
    """Run this process (every thread it has, such as the BLAS pool NumPy started on import, and what
    it starts) on one CPU, the first it may use; returns that CPU."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    for thread in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(thread), {cpu})
    return cpu


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


def ours(out: Path, placements: int, workers: int = 1, inputs: str = "bundled", size: int = SIZE, **scene) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    bgs, fgs = INPUTS[inputs]
    return generate(GenerateOptions(out=str(out), backgrounds=bgs, foregrounds=fgs, placements=placements, size=size,
                                     depth="planar", workers=workers, progress=False, **scene))


def bench_command(inputs: str, placements: int, runs: int, tmp: Path) -> None:
    """Whole commands side by side, as processes, taking turns: what a user waits for."""
    bgs, fgs = INPUTS[inputs]
    src = ["--backgrounds", bgs, "--foregrounds", fgs] if bgs else []
    ours_cmd = [sys.executable, "-m", "fgbg_depth", "generate", "--out", str(tmp / "cmd-ours"), "--placements",
                str(placements), "--size", str(SIZE), "--depth", "planar", "--workers", "1", "--quiet", *src]
    notebook_cmd = [sys.executable, str(Path(__file__).resolve()), "notebook", "--inputs", inputs, "--placements",
                    str(placements), "--zip", str(tmp / "cmd-notebook.zip")]
    n = Plan(*(len(x) for x in (load_inputs(bgs, fgs).backgrounds, load_inputs(bgs, fgs).foregrounds)),
             placements).n_samples
    # one core means one: both commands pinned to the same CPU (our depth stage runs in a side thread)
    pin = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[0])] if shutil.which("taskset") else []
    ours_cmd, notebook_cmd = pin + ours_cmd, pin + notebook_cmd
    times: dict[str, list[float]] = {"ours": [], "notebook": []}
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for _ in range(runs):
        for label, cmd in (("ours", ours_cmd), ("notebook", notebook_cmd)):
            shutil.rmtree(tmp / "cmd-ours", ignore_errors=True)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - t0)
    ours_s, nb_s = statistics.median(times["ours"]), statistics.median(times["notebook"])
    print(f"command: {inputs} inputs, {n} samples, 160 px, planar, 1 core{' (taskset)' if pin else ''}; whole commands "
          f"taking turns, median of {runs}")
    print(f"command ours      {ours_s:7.2f} s  {n / ours_s:8.1f} samples/s  (runs: {', '.join(f'{t:.2f}' for t in times['ours'])})")
    print(f"command notebook  {nb_s:7.2f} s  {n / nb_s:8.1f} samples/s  (runs: {', '.join(f'{t:.2f}' for t in times['notebook'])})")
    print(f"command ratio     {nb_s / ours_s:7.2f} x")


def floor_pictures(which: str, placements: int, size: int, budget_bytes: int = 200 << 20):
    """The pictures the floor is timed on: (composite, mask, depth units) of every k-th sample of the
    plan, made by our own stages (k as small as `budget_bytes` of raw pixels allow), the composite as
    the compose stage hands it to the encoder (RGBX)."""
    from fgbg_depth.generate import prepare
    from fgbg_depth.worker import ShardWorker
    bgs, fgs = INPUTS[which]
    with tempfile.TemporaryDirectory(prefix="fgbg-floor-") as out:
        prep = prepare(GenerateOptions(out=out, backgrounds=bgs, foregrounds=fgs, placements=placements, size=size,
                                       depth="planar", progress=False))
    worker = ShardWorker(prep.job, backend=prep.backend)
    n = prep.job.plan.n_samples
    every = max(1, -(-n * size * size * 7 // budget_bytes))  # 4 + 1 + 2 bytes a pixel
    ids = list(range(0, n, every))
    pictures = []
    for start in range(0, len(ids), 32):
        made, inputs = worker.compose_batch(ids[start:start + 32])
        pictures += [(m.image, m.mask, d) for m, d in zip(made, worker.depth_units(*inputs))]
    return pictures


CACHED_BYTES = 8 << 20  # pictures timed at a time: they fit in the last-level cache, as ours do when encoded


class Floor:
    """The encoders alone, timed in turns: JPEG encode of the composite and its decode (what the
    exact statistics need), the mask's and the depth's grey PNGs (codecs.py's general functions),
    each turn on the next pictures in a cycle over them. The pictures are taken a few at a time and
    read once, untimed, before the encoders run on them: ours encodes each picture just after
    making it, from the cache, and a floor that read them from memory would be higher than the
    encoders' own cost. `seconds` and `pictures` count the timed encoders; `spent` is all the CPU
    time the turns took, reading included (what a run of ours that had turns taken inside it
    subtracts from its own time)."""

    def __init__(self, pictures):
        self.pictures = pictures
        self.at_once = max(1, CACHED_BYTES // sum(a.nbytes for a in pictures[0]))
        self.next = 0
        self.seconds = self.spent = 0.0
        self.count = 0

    def turn(self, n: int) -> None:
        from fgbg_depth.codecs import decode_jpeg, encode_jpeg, encode_png_gray
        c0 = time.process_time()
        while n > 0:
            group = [self.pictures[(self.next + i) % len(self.pictures)] for i in range(min(n, self.at_once))]
            self.next = (self.next + len(group)) % len(self.pictures)
            n -= len(group)
            for arrays in group:  # into the cache
                for a in arrays:
                    a.max()
            t0 = time.process_time()
            for image, mask, depth in group:
                decode_jpeg(encode_jpeg(image))
                encode_png_gray(mask)
                encode_png_gray(depth)
            self.seconds += time.process_time() - t0
            self.count += len(group)
        self.spent += time.process_time() - c0

    def per_picture(self) -> float:
        return self.seconds / self.count


def ours_taking_turns(floor: Floor, out: Path, placements: int, inputs: str, size: int) -> tuple[float, float, float]:
    """A whole `generate --workers 1` in process, the floor taking a turn after each shard on as many
    pictures as the shard has samples: both meet the same seconds of this machine's swings, which
    come and go within a run. Returns (our CPU seconds, our wall seconds, the floor's seconds per
    picture in this run), ours without the turns' time."""
    from fgbg_depth.worker import ShardWorker
    make = ShardWorker.make
    before_seconds, before_count, before_spent = floor.seconds, floor.count, floor.spent
    wall_in_turns = 0.0

    def make_then_floor(self, spec):
        nonlocal wall_in_turns
        made = make(self, spec)
        t0 = time.perf_counter()
        floor.turn(spec.stop - spec.start)
        wall_in_turns += time.perf_counter() - t0
        return made

    shutil.rmtree(out, ignore_errors=True)  # the last run's output, deleted before the clock starts
    ShardWorker.make = make_then_floor
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        ours(out, placements, inputs=inputs, size=size)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    finally:
        ShardWorker.make = make
    return (cpu - (floor.spent - before_spent), wall - wall_in_turns,
            (floor.seconds - before_seconds) / (floor.count - before_count))


def bench_sizes(which: str, placements: int, sizes, runs: int, tmp: Path) -> None:
    """Per output size, on one core: ours against the floor the output format sets, taking turns."""
    cpu = pin_to_one_core()
    bgs, fgs = INPUTS[which]
    inputs = load_inputs(bgs, fgs)
    n = Plan(len(inputs.backgrounds), len(inputs.foregrounds), placements).n_samples
    print(f"sizes: {which} inputs, {n} samples, planar, 1 core (CPU {cpu}); ours = a whole `generate --workers 1` "
          f"in process; floor = the encoders alone on every k-th sample's pictures, a few at a time from the cache; "
          f"the two take turns shard by shard (after each shard of ours, the floor on as many pictures as it had "
          f"samples, its time taken out of ours); CPU time of this process (what other work on the machine moves "
          f"least); median of {runs} runs' own ratios")
    for size in sizes:
        pictures = floor_pictures(which, placements, size)
        floor = Floor(pictures)
        ours_taking_turns(floor, tmp / "sizes", placements, which, size)  # warm-up
        ours_s, floor_s, wall_s = [], [], []
        for _ in range(runs):
            cpu_s, wall, per_picture = ours_taking_turns(floor, tmp / "sizes", placements, which, size)
            ours_s.append(cpu_s / n)
            wall_s.append(wall / n)
            floor_s.append(per_picture)
        data = sum(p.stat().st_size for p in (tmp / "sizes" / "data").glob("*.parquet"))
        ratio = statistics.median(o / f for o, f in zip(ours_s, floor_s))
        ours_ms, floor_ms = statistics.median(ours_s) * 1e3, statistics.median(floor_s) * 1e3
        del pictures, floor
        cmd = ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []
        cmd += [sys.executable, "-m", "fgbg_depth", "generate", "--out", str(tmp / "sizes-rss"), "--placements",
                str(placements), "--size", str(size), "--depth", "planar", "--workers", "1", "--quiet"]
        cmd += ["--backgrounds", bgs, "--foregrounds", fgs] if bgs else []
        shutil.rmtree(tmp / "sizes-rss", ignore_errors=True)
        _, peak, proc = run_watched(cmd)
        print(f"sizes {size:3d} px  ours {ours_ms:6.3f} ms/sample ({1e3 / ours_ms:6.0f} samples/s; wall "
              f"{1 / statistics.median(wall_s):6.0f}/s)  floor "
              f"{floor_ms:6.3f} ms  ours/floor {ratio:5.2f}x  {data / n:7.0f} bytes/sample  peak RSS "
              f"{peak / 2**20:5.0f} MiB (rc={proc.returncode})  (runs' ratios: "
              f"{', '.join(f'{o / f:.2f}' for o, f in zip(ours_s, floor_s))}; ours: "
              f"{', '.join(f'{t * 1e3:.3f}' for t in ours_s)}; floor: {', '.join(f'{t * 1e3:.3f}' for t in floor_s)})",
              flush=True)


def bench_feed(inputs: str, runs: int, model_size: int = 448, batch: int = 128) -> None:
    """The CPU side of a model run, per sample on one core: what the pool's workers do while the GPU
    runs the model (composite at the output size and at the model's input size, encode the images,
    encode the depth the model sends back, assemble and write the shard)."""
    import dataclasses

    from fgbg_depth.generate import prepare
    from fgbg_depth.contract import quantize_depth
    from fgbg_depth.worker import ShapeOnly, ShardWorker
    bgs, fgs = INPUTS[inputs]
    with tempfile.TemporaryDirectory(prefix="fgbg-feed-") as out:
        prep = prepare(GenerateOptions(out=out, backgrounds=bgs, foregrounds=fgs, placements=8, size=SIZE,
                                       depth="planar", progress=False))
        job = dataclasses.replace(prep.job, runs_model=True, depth_options={"input_size": (model_size, model_size)})
        worker = ShardWorker(job, backend=ShapeOnly((model_size, model_size)))
        spec = job.plan.shards("train")[0]
        ids = job.plan.split_ids("train")[spec.start:spec.stop]
        planar = prep.backend
        worker.compose_batch(ids[:batch])  # warm the per-process caches (inputs decoded, mip levels)
        stages: dict[str, list[float]] = {k: [] for k in ("compose output", "compose model", "encode images",
                                                          "encode depth", "assemble + write")}
        n = 0
        for _ in range(runs):
            pieces = []
            for start in range(0, len(ids), batch):
                chunk = ids[start:start + batch]
                t0 = time.perf_counter()
                made = worker.compositor.batch(chunk)
                t1 = time.perf_counter()
                worker.compositor.model_inputs(chunk, made, (model_size, model_size))
                t2 = time.perf_counter()
                piece = worker.encode_images(chunk, made)
                t3 = time.perf_counter()
                # the model's answer, uint16 units at the output size: here the planar prior's (not timed)
                units = np.stack([quantize_depth(d, job.depth_scale, job.depth_quantum) for d in
                                  planar.predict(np.stack([m.image for m in made]), np.stack([m.mask for m in made]))])
                t4 = time.perf_counter()
                pieces.append(worker.encode_depth(piece, units))
                t5 = time.perf_counter()
                for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t5 - t4)):
                    stages[key].append(dt)
                n += len(chunk)
            t6 = time.perf_counter()
            worker.write(spec, *worker.table_from(pieces))
            stages["assemble + write"].append(time.perf_counter() - t6)
    per = {k: sum(v) / n * 1e3 for k, v in stages.items()}
    total = sum(per.values())
    print(f"feed: {inputs} inputs, output {SIZE} px, model input {model_size} px, {n} samples on 1 core")
    for k, v in per.items():
        print(f"feed {k:18s} {v:7.3f} ms/sample")
    print(f"feed total              {total:7.3f} ms/sample = {1000 / total:6.0f} samples/s per core")
    for rate in (1500, 2500):
        print(f"feed cores to keep one GPU at {rate:,} maps/s fed: {rate * total / 1000:5.1f}")


def bench_scene(placements: int, runs: int, tmp: Path) -> None:
    """Each blend mode, and several objects, against plain pasting: whole generate runs on one core."""
    n = Plan(8, 8, placements).n_samples
    variants = [("none, K=1", {}), ("gaussian, K=1", {"blend": "gaussian"}), ("motion, K=1", {"blend": "motion"}),
                ("poisson, K=1", {"blend": "poisson"}), ("mixed, K=1", {"blend": "mixed"}),
                ("none, K=1, --alpha", {"alpha": True}), ("none, K=3, --alpha", {"objects": 3, "alpha": True}),
                ("mixed, K=3, --alpha", {"blend": "mixed", "objects": 3, "alpha": True})]
    print(f"scene: {n} samples, 1 core, 160 px, planar, median of {runs} rounds in which the variants take turns")
    ours(tmp / "scene", placements)  # warm-up
    timed: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _ in range(runs):  # taking turns: a slow spell of the machine hits every variant alike
        for label, scene in variants:
            t0 = time.perf_counter()
            ours(tmp / "scene", placements, **scene)
            timed[label].append(n / (time.perf_counter() - t0))
    base = timed[variants[0][0]]
    for label, rates in timed.items():
        # the cost is the median of each round's own ratio: a slow spell of the machine that lasts a
        # round moves both sides of that round's ratio, not the figure
        cost = statistics.median(b / r for b, r in zip(base, rates))
        print(f"scene {label:22s} {statistics.median(rates):8.1f} samples/s/core  cost {cost:5.2f}x of none, K=1  "
              f"(runs: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)


def bench_cpu_and_size(placements: int, runs: int, do_cpu: bool, do_size: bool, tmp: Path,
                       which: str = "bundled") -> None:
    inputs = load_inputs(*INPUTS[which])
    plan = Plan(len(inputs.backgrounds), len(inputs.foregrounds), placements)
    n = plan.n_samples
    zip_path = tmp / "notebook.zip"
    if do_cpu:
        ours_rate, ours_all = median_rate(lambda: ours(tmp / "ours", placements, inputs=which), n, runs)
        nb_rate, nb_all = median_rate(lambda: notebook_way(inputs, plan, zip_path), n, runs)
        print(f"cpu: {which} inputs, {n} samples, 1 core, in process, median of {runs}")
        print(f"cpu ours      {ours_rate:8.1f} samples/s/core  (runs: {', '.join(f'{r:.0f}' for r in ours_all)})")
        print(f"cpu notebook  {nb_rate:8.1f} samples/s/core  (runs: {', '.join(f'{r:.0f}' for r in nb_all)})")
        print(f"cpu ratio     {ours_rate / nb_rate:8.2f} x")
    if do_size:
        if not (tmp / "ours").exists():
            ours(tmp / "ours", placements, inputs=which)
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


def run_watched(cmd: list[str], every: float = 0.1) -> tuple[float, int, subprocess.Popen]:
    """Run a command to its end: (wall seconds, peak RSS of its process tree sampled every `every`
    seconds, the finished process, its stderr readable)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(every)
    return time.perf_counter() - t0, peak, proc


def bench_scaling(tmp: Path) -> None:
    for placements in (79, 782):  # 8 × 8 × 2 × P ≈ 10,000 and 100,000 samples
        out = tmp / f"scale{placements}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "fgbg_depth", "generate", "--out", str(out), "--placements", str(placements),
               "--depth", "planar", "--workers", "2", "--quiet"]
        wall, peak, proc = run_watched(cmd)
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
    ap.add_argument("--inputs", default="bundled", choices=sorted(INPUTS))
    ap.add_argument("--placements", type=int, help="per input: 20 bundled, 30 photos, 50 small_photos")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="sizes for `sizes`, comma-separated")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--zip", help=argparse.SUPPRESS)  # `notebook`: run the notebook way once, into this zip
    args = ap.parse_args(argv)
    if args.placements is None:
        args.placements = PLACEMENTS[args.inputs]
    if args.which == ["notebook"]:
        inputs = load_inputs(*INPUTS[args.inputs])
        notebook_way(inputs, Plan(len(inputs.backgrounds), len(inputs.foregrounds), args.placements), Path(args.zip))
        return
    with tempfile.TemporaryDirectory(prefix="fgbg-bench-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("HF_HOME", str(tmp / "hf"))
        if "cpu" in args.which or "size" in args.which:
            bench_cpu_and_size(args.placements, args.runs, "cpu" in args.which, "size" in args.which, tmp, args.inputs)
        if "scaling" in args.which:
            bench_scaling(tmp)
        if "reading" in args.which:
            bench_reading(args.placements, args.runs, tmp)
        if "scene" in args.which:
            bench_scene(args.placements, args.runs, tmp)
        if "command" in args.which:
            bench_command(args.inputs, args.placements, args.runs, tmp)
        if "sizes" in args.which:
            bench_sizes(args.inputs, args.placements, [int(v) for v in args.sizes.split(",")], args.runs, tmp)
        if "feed" in args.which:
            bench_feed(args.inputs, args.runs)


if __name__ == "__main__":
    main()
