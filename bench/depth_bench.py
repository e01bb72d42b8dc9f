"""Depth maps per second, TFLOP/s and peak memory of the depth models, per precision.

    python bench/depth_bench.py [--models depth-anything,densedepth] [--batch-size 64[,128...]]
                                [--batches 20] [--repeats 5] [--size 448] [--precisions float32,bfloat16]
                                [--weights nyu.h5] [--depth-model FOLDER_OR_REPO]

Runs on whatever device Keras' backend finds (KERAS_BACKEND=tensorflow by default; jax and torch
work too), through the same runner `generate` uses. "End to end" = uint8 batch on the host → depth
in metres (float32) back on the host. Without --weights / --depth-model the models have random
weights (Depth Anything: the released V2 Small architecture): the speed is the same, the depth is
meaningless. Each figure is the median of --repeats timed runs after one warm-up run (which also
compiles). FLOPs: DenseDepth's convolutions; Depth Anything's matrix products and convolutions
(`depth_anything.flops_per_image`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def conv_flops(model) -> int:
    """Multiply-adds × 2 of every convolution for one image (the model's work; the upsampling,
    a few gathers and lerps, is not counted)."""
    import keras
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * kh * kw * cin * cout * h * w
    return total


def device_info():
    import keras
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        d = jax.devices()[0]
        return backend, f"{d.platform}:{getattr(d, 'device_kind', d)}"
    if backend == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
            return backend, f"gpu:{name}"
    if backend == "torch":
        import torch
        if torch.cuda.is_available():
            return backend, f"gpu:{torch.cuda.get_device_name(0)}"
    import platform
    return backend, f"cpu:{platform.processor() or platform.machine()} x{os.cpu_count()}"


def device_peak_bytes():
    import keras
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax
            return jax.devices()[0].memory_stats().get("peak_bytes_in_use")
        if backend == "tensorflow":
            import tensorflow as tf
            if tf.config.list_physical_devices("GPU"):
                return tf.config.experimental.get_memory_info("GPU:0")["peak"]
        if backend == "torch":
            import torch
            if torch.cuda.is_available():
                return torch.cuda.max_memory_allocated()
    except Exception:
        return None
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="depth-anything,densedepth", help="comma-separated")
    ap.add_argument("--batch-size", help="one batch size or several, comma-separated")
    ap.add_argument("--batches", type=int, default=None, help="batches per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=448)
    ap.add_argument("--precisions", default="float32,bfloat16")
    ap.add_argument("--weights", help="DenseDepth nyu.h5 (else random weights)")
    ap.add_argument("--depth-model", help="a Depth Anything checkpoint to load (else V2 Small, random weights)")
    ap.add_argument("--upsample", default="gather", help="DenseDepth: gather and/or matmul, comma-separated")
    args = ap.parse_args(argv)
    REPEATS[0] = args.repeats

    from fgbg_depth.depth.runner import default_batch_size
    backend, device = device_info()
    on_gpu = device.startswith("gpu")
    sizes = [int(b) for b in args.batch_size.split(",")] if args.batch_size else [default_batch_size()]
    batches = args.batches or (20 if on_gpu else 2)
    print(f"device: {device}  keras backend: {backend}  input {args.size}x{args.size}  "
          f"{batches} batches/run, median of {args.repeats} runs")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (max(sizes) * batches, args.size, args.size, 3), dtype=np.uint8)
    for name in args.models.split(","):
        for precision in args.precisions.split(","):
            for label, make, flops in _variants(name, precision, args):
                print(f"{name}: {label}", flush=True)
                for batch in sizes:
                    run_one(make(batch), precision, batch, images[:batch * batches], flops)


def _variants(name: str, precision: str, args):
    """(label, batch size → backend, FLOP per image) for each form of a model to time."""
    size = (args.size, args.size)
    if name == "densedepth":
        from fgbg_depth.depth.densedepth import DenseDepth, build_model, load_keras2_weights
        for upsample in args.upsample.split(","):
            model = build_model(size, precision, upsample=upsample)
            if args.weights:
                load_keras2_weights(model, args.weights)
            yield (f"upsampling {upsample}", lambda b, m=model: DenseDepth(None, precision=precision, input_size=size,
                                                                           batch_size=b, model=m), conv_flops(model))
    elif name == "depth-anything":
        from fgbg_depth.depth.checkpoint import SMALL_CONFIG, parse_config
        from fgbg_depth.depth.depth_anything import DepthAnything, flops_per_image
        if args.depth_model:
            loaded = DepthAnything(args.depth_model, precision=precision, input_size=size)
            yield (f"{args.depth_model}", lambda b: _rebatched(loaded, b), flops_per_image(loaded.arch, size))
        else:
            arch = parse_config(SMALL_CONFIG, "V2 Small")
            shared = DepthAnything.with_random_weights(arch, precision, size)
            yield ("V2 Small architecture, random weights", lambda b: _rebatched(shared, b),
                   flops_per_image(arch, size))
    else:
        raise SystemExit(f"unknown model {name}")


def _rebatched(backend, batch: int):
    backend.batch_size, backend._fns, backend._posts = batch, {}, {}
    return backend


def run_one(dd, precision, batch, images, flops):
    t0 = time.perf_counter()
    dd.predict(images[:batch])  # compile
    compile_s = time.perf_counter() - t0
    dd.predict(images)  # warm-up run
    rates = []
    for _ in range(REPEATS[0]):
        t0 = time.perf_counter()
        out = dd.predict(images)
        rates.append(len(images) / (time.perf_counter() - t0))
    assert out.shape == (len(images), *dd.output_size) and np.isfinite(out).all()
    rate = statistics.median(rates)
    peak = device_peak_bytes()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{precision:9s} batch {batch:4d} {rate:10.2f} depth maps/s  (min {min(rates):.2f}, max {max(rates):.2f})  "
          f"{flops / 1e9:.1f} GFLOP/image -> {rate * flops / 1e12:.2f} TFLOP/s  "
          f"compile {compile_s:.1f} s  peak device mem "
          f"{'n/a' if peak is None else f'{peak / 2**30:.2f} GiB'}  peak host RSS {rss / 2**30:.2f} GiB", flush=True)


REPEATS = [5]

if __name__ == "__main__":
    main()
