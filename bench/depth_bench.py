"""Depth maps per second and peak memory of the DenseDepth backend, per precision.

    python bench/depth_bench.py [--batch-size 64[,128...]] [--batches 20] [--repeats 5] [--size 448]
                                [--precisions float32,bfloat16] [--weights nyu.h5]

Runs on whatever device Keras' backend finds (KERAS_BACKEND=tensorflow by default; jax and torch
work too). "End to end" = uint8 batch on the host → depth in metres (float32) back on the host.
Without --weights the model has random weights: the speed is the same, the depth is meaningless.
Each figure is the median of --repeats timed runs after one warm-up run (which also compiles).
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
    ap.add_argument("--batch-size", help="one batch size or several, comma-separated")
    ap.add_argument("--batches", type=int, default=None, help="batches per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=448)
    ap.add_argument("--precisions", default="float32,bfloat16")
    ap.add_argument("--weights")
    ap.add_argument("--upsample", default="gather", help="gather and/or matmul, comma-separated")
    args = ap.parse_args(argv)

    from fgbg_depth.depth.densedepth import build_model, load_keras2_weights
    from fgbg_depth.depth.runner import default_batch_size
    backend, device = device_info()
    on_gpu = device.startswith("gpu")
    sizes = [int(b) for b in args.batch_size.split(",")] if args.batch_size else [default_batch_size()]
    batches = args.batches or (20 if on_gpu else 2)
    print(f"device: {device}  keras backend: {backend}  input {args.size}x{args.size}  "
          f"{batches} batches/run, median of {args.repeats} runs")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (max(sizes) * batches, args.size, args.size, 3), dtype=np.uint8)
    for precision, upsample in [(p, u) for p in args.precisions.split(",") for u in args.upsample.split(",")]:
        model = build_model((args.size, args.size), precision, upsample=upsample)
        print(f"upsampling: {upsample}")
        if args.weights:
            load_keras2_weights(model, args.weights)
        flops = conv_flops(model)
        for batch in sizes:
            run_one(model, precision, batch, images[:batch * batches], flops, args)
        del model


def run_one(model, precision, batch, images, flops, args):
    from fgbg_depth.depth.densedepth import DenseDepth
    dd = DenseDepth(None, precision=precision, input_size=(args.size, args.size), batch_size=batch, model=model)
    t0 = time.perf_counter()
    dd.predict(images[:batch])  # compile
    compile_s = time.perf_counter() - t0
    dd.predict(images)  # warm-up run
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = dd.predict(images)
        rates.append(len(images) / (time.perf_counter() - t0))
    assert out.shape == (len(images), args.size // 2, args.size // 2) and np.isfinite(out).all()
    rate = statistics.median(rates)
    peak = device_peak_bytes()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{precision:9s} batch {batch:4d} {rate:10.1f} depth maps/s  (min {min(rates):.1f}, max {max(rates):.1f})  "
          f"{flops / 1e9:.1f} GFLOP/image -> {rate * flops / 1e12:.1f} TFLOP/s  "
          f"compile {compile_s:.1f} s  peak device mem "
          f"{'n/a' if peak is None else f'{peak / 2**30:.2f} GiB'}  peak host RSS {rss / 2**30:.2f} GiB", flush=True)

if __name__ == "__main__":
    main()
