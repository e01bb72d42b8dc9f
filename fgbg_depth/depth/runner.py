"""The one inference engine of the Keras depth models (DenseDepth, Depth Anything).

A model file gives its architecture, its loader and two small hooks (`preprocess`: uint8 pixels →
the model's input; `to_metres`: the model's output → N×h×w metres); `KerasDepthModel` does the rest,
the same way for every model:

- one compiled function per fixed batch shape and post-processing (XLA on a GPU with TensorFlow,
  `jax.jit` on JAX, no-grad on PyTorch); the last batch is padded to the compiled shape;
- uint8 pixels go to the device, and depth can come back already resized to the output size and
  rounded to stored units (`metres_to_units`), a quarter of the bytes of float metres;
- two batches in flight (`dispatch` / `fetch`), so the device never waits for Python;
- the batch size from FGBG_DEPTH_BATCH, else 128 on a GPU and 4 on a CPU; running out of device
  memory is one line that says to lower it.
"""

from __future__ import annotations

import os
from collections import deque

import numpy as np

from ..errors import FgBgError

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def keras_module(model: str = "this depth model"):
    """Keras 3, or a one-line error saying how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError:
        raise FgBgError(f"{model} needs TensorFlow and Keras 3: pip install 'fgbg-depth[depth]' "
                        "(or 'fgbg-depth[depth-gpu]' for NVIDIA GPUs)") from None
    if int(keras.__version__.split(".")[0]) < 3:
        raise FgBgError(f"{model} needs Keras 3, found {keras.__version__}")
    return keras


def keras_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("keras") is not None


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise FgBgError(f"precision must be one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def examples(items, k: int = 3) -> str:
    items = list(items)
    return ", ".join(items[:k]) + (f" and {len(items) - k} more" if len(items) > k else "")


def misfit(wrong: list[str], unexpected: list[str], missing: list[str], unit: str) -> str:
    """What keeps a weights file off a model, for its one-line error: shape mismatches, then the
    `unit`s (layers, tensors) the model lacks, then those the file lacks, a few named of each."""
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} shape mismatches: {examples(wrong)}")
    if unexpected:
        parts.append(f"{len(unexpected)} {unit} the model lacks: {examples(unexpected)}")
    if missing:
        parts.append(f"{len(missing)} {unit} not in the file: {examples(missing)}")
    return "; ".join(parts)


def align_corners_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two taps and the weight of the second for each output of linear interpolation with
    align_corners=True: output i = x[lo[i]] + (x[hi[i]] − x[lo[i]]) · frac[i]."""
    if n_in == 1 or n_out == 1:
        zeros = np.zeros(n_out, np.int32)
        return zeros, zeros, np.zeros(n_out, np.float32)
    pos = np.arange(n_out) * (n_in - 1) / (n_out - 1)
    lo = np.minimum(np.floor(pos).astype(np.int32), n_in - 2)
    return lo, lo + 1, (pos - lo).astype(np.float32)


def resize_align_corners(x, out_h: int, out_w: int):
    """Bilinear resize of an N×H×W×C backend tensor with align_corners=True (PyTorch's
    `interpolate(..., mode="bilinear", align_corners=True)`): two taps per output along each axis
    and a lerp, in float32 (one fused elementwise pass on a GPU), cast back to x's dtype."""
    from keras import ops
    y = ops.cast(x, "float32")
    for axis, n_out in ((1, out_h), (2, out_w)):
        n_in = x.shape[axis]
        if n_in == n_out:
            continue
        lo, hi, frac = align_corners_taps(n_in, n_out)
        shape = [1, 1, 1, 1]
        shape[axis] = n_out
        first = ops.take(y, ops.convert_to_tensor(lo), axis=axis)
        second = ops.take(y, ops.convert_to_tensor(hi), axis=axis)
        y = first + (second - first) * ops.reshape(ops.convert_to_tensor(frac), shape)
    return ops.cast(y, x.dtype)


def resize_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear (triangle-filter) resampling from n_in to n_out samples, antialiased when shrinking as
    Pillow's BILINEAR is: output i = sum_k weight[i, k] · input[index[i, k]]. Unused taps have weight 0."""
    scale = n_in / n_out
    support = max(scale, 1.0)  # the triangle's half-width in input samples
    centres = (np.arange(n_out) + 0.5) * scale
    first = np.maximum(np.floor(centres - support).astype(int), 0)
    taps = int(np.ceil(2 * support)) + 1
    wanted = first[:, None] + np.arange(taps)[None, :]
    index = np.minimum(wanted, n_in - 1)
    weight = np.maximum(0.0, 1.0 - np.abs((index + 0.5 - centres[:, None]) / support))
    weight[wanted > n_in - 1] = 0.0  # clamped duplicates count once
    weight /= weight.sum(axis=1, keepdims=True)
    return index.astype(np.int32), weight.astype(np.float32)


def metres_to_units(metres, out_size: int, scale: float, quantum: int):
    """N×h×w metres → N×out×out uint16 depth units: resize with `resize_taps` (elementwise float32
    products, no matrix unit, so every device rounds alike), then round to multiples of `quantum`
    units of `scale` metres; non-positive or non-finite depth becomes 0. Backend tensors in and out."""
    from keras import ops
    m = ops.cast(metres, "float32")
    for axis in (1, 2):
        if m.shape[axis] == out_size:
            continue
        index, weight = resize_taps(m.shape[axis], out_size)
        shape = [1, 1, 1]
        shape[axis] = out_size
        acc = None
        for k in range(index.shape[1]):
            w = ops.reshape(ops.convert_to_tensor(weight[:, k]), shape)
            term = ops.take(m, ops.convert_to_tensor(index[:, k]), axis=axis) * w
            acc = term if acc is None else acc + term
        m = acc
    valid = ops.logical_and(ops.isfinite(m), m > 0)
    steps = ops.round(ops.where(valid, m, 0.0) / np.float32(scale * quantum))
    top = 65535 // quantum * quantum
    units = ops.clip(steps * quantum, quantum, top)
    return ops.cast(ops.where(valid, units, 0.0), "uint16")


def chosen_batch_size() -> int | None:
    """The batch size FGBG_DEPTH_BATCH asks for, or None when it is not set."""
    chosen = os.environ.get("FGBG_DEPTH_BATCH", "").strip()
    if not chosen:
        return None
    if not chosen.isdigit() or int(chosen) < 1:
        raise FgBgError(f"FGBG_DEPTH_BATCH must be a positive whole number, got '{chosen}'")
    return int(chosen)


def on_gpu() -> bool:
    try:
        import keras
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            return bool(tf.config.list_physical_devices("GPU"))
        if keras.backend.backend() == "jax":
            import jax
            return jax.default_backend() == "gpu"
        if keras.backend.backend() == "torch":
            import torch
            return torch.cuda.is_available()
    except Exception:
        pass
    return False


def default_batch_size() -> int:
    """FGBG_DEPTH_BATCH if set, else 128 on a GPU and 4 on a CPU."""
    return chosen_batch_size() or (128 if on_gpu() else 4)


class KerasDepthModel:
    """A Keras depth model behind the backend protocol: `predict(uint8 N×H×W×3) -> float32 metres
    N×h×w` at a fixed, padded batch shape, plus `predict_units` and `dispatch_units`/`fetch` for the
    engines. Subclasses set `name`, `display_name`, `model`, `input_size`, `output_size` and
    `precision`, and define `preprocess` and `to_metres`."""

    name = "keras-model"
    display_name = "the depth model"

    def __init__(self, batch_size: int | None = None):
        self.batch_size = batch_size or default_batch_size()
        self._fns: dict = {}
        self._posts: dict = {}

    # -- what a model file defines --------------------------------------------------------------
    def preprocess(self, x_uint8):
        """uint8 N×H×W×3 backend tensor → the model's input."""
        raise NotImplementedError

    def to_metres(self, y):
        """The model's output → N×h×w depth (float32 metres for a metric model)."""
        raise NotImplementedError

    def describe(self) -> dict:
        raise NotImplementedError

    # -- the shared engine ------------------------------------------------------------------------
    def _compiled(self, post=None):
        """One compiled function of a fixed-shape uint8 batch → metres (or `post(metres)`), for the
        active backend; one per post-processing, made once."""
        if post in self._fns:
            return self._fns[post]
        keras = keras_module(self.display_name)
        model, finish = self.model, post or (lambda m: m)

        def forward(x_uint8):
            return finish(self.to_metres(model(self.preprocess(x_uint8), training=False)))

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf
            fn = tf.function(forward, jit_compile=on_gpu(), reduce_retracing=True)
        elif backend == "jax":
            import jax
            trainable = [v.value for v in model.trainable_variables]
            frozen = [v.value for v in model.non_trainable_variables]

            @jax.jit
            def run(tv, ntv, x_uint8):
                y, _ = model.stateless_call(tv, ntv, self.preprocess(x_uint8), training=False)
                return finish(self.to_metres(y))

            def fn(x):
                return run(trainable, frozen, x)
        else:
            import torch

            def fn(x):
                with torch.no_grad():
                    return forward(x)
        self._fns[post] = fn
        return fn

    def _units_post(self, out_size: int, scale: float, quantum: int):
        key = (out_size, float(scale), int(quantum))
        if key not in self._posts:
            self._posts[key] = lambda m: metres_to_units(m, *key)
        return self._posts[key]

    def _check(self, images) -> np.ndarray:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (*self.input_size, 3):
            raise ValueError(f"expected uint8 N×{self.input_size[0]}×{self.input_size[1]}×3, got "
                             f"{images.dtype} {images.shape}")
        return images

    def dispatch(self, batch: np.ndarray, post=None):
        """Start one batch (at most batch_size rows; padded to the compiled shape) on the device and
        return at once; `fetch` waits for it. `batch` must stay unchanged until then."""
        batch = self._check(batch)
        n = len(batch)
        if not 0 < n <= self.batch_size:
            raise ValueError(f"a dispatched batch holds 1 to {self.batch_size} images, got {n}")
        if n < self.batch_size:
            batch = np.concatenate([batch, np.zeros((self.batch_size - n, *batch.shape[1:]), np.uint8)])
        try:
            return n, self._compiled(post)(batch)
        except Exception as exc:
            raise self._device_error(exc) from None

    def fetch(self, handle) -> np.ndarray:
        from keras import ops
        n, result = handle
        try:
            return ops.convert_to_numpy(result)[:n]
        except Exception as exc:
            raise self._device_error(exc) from None

    def _device_error(self, exc: Exception) -> Exception:
        """Out of device memory becomes a one-line FgBgError that says what to change; anything else
        is passed on as it is."""
        text = str(exc)
        if "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower():
            return FgBgError(f"{self.display_name} ran out of device memory at batch size {self.batch_size} "
                             f"({self.precision}); set FGBG_DEPTH_BATCH to a smaller batch (or use "
                             "--precision bfloat16) and run the same command again to resume")
        return exc

    def dispatch_units(self, batch: np.ndarray, out_size: int, scale: float, quantum: int):
        """`dispatch`, with depth returned as uint16 units at out_size×out_size (see `metres_to_units`):
        the resize and rounding run on the device, and a quarter of the bytes come back."""
        return self.dispatch(batch, self._units_post(out_size, scale, quantum))

    def _run_all(self, images, post, out: np.ndarray) -> np.ndarray:
        in_flight: deque = deque()  # results not yet fetched: the device works on the next batch meanwhile
        b = self.batch_size
        for start in range(0, len(images), b):
            in_flight.append((start, self.dispatch(images[start:start + b], post)))
            if len(in_flight) > 2:
                first, handle = in_flight.popleft()
                out[first:first + handle[0]] = self.fetch(handle)
        for first, handle in in_flight:
            out[first:first + handle[0]] = self.fetch(handle)
        return out

    def predict(self, images: np.ndarray, masks=None) -> np.ndarray:
        images = self._check(images)
        return self._run_all(images, None, np.empty((len(images), *self.output_size), dtype=np.float32))

    def predict_units(self, images: np.ndarray, out_size: int, scale: float, quantum: int) -> np.ndarray:
        """uint8 N×H×W×3 → uint16 N×out_size×out_size depth units (`metres_to_units` on the device)."""
        images = self._check(images)
        return self._run_all(images, self._units_post(out_size, scale, quantum),
                             np.empty((len(images), out_size, out_size), dtype=np.uint16))
