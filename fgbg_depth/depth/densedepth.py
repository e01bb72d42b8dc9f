"""DenseDepth (NYU weights) rebuilt in Keras 3, loaded from the Keras 2.2.4 `nyu.h5` with h5py.

The released weights belong to the full-width decoder: a 1×1 `conv2` with 1664 filters on the
DenseNet-169 encoder's final `relu`, then four up-blocks (832, 416, 208, 104 filters), each a 2×
bilinear upsampling with align_corners=True, a concatenation with an encoder skip, convA 3×3,
convB 3×3 and one LeakyReLU(0.2); `conv3` 3×3 gives one channel at half the input resolution.
The output p is DepthNorm: metres = clip(1000 / p, 10, 1000) / 100.

Keras 3 runs on TensorFlow here; the same code runs on the JAX or PyTorch backend (KERAS_BACKEND).
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import numpy as np

from ..assets import file_sha256
from ..errors import FgBgError

NYU_URL = "https://s3-eu-west-1.amazonaws.com/densedepth/nyu.h5"
NYU_BYTES = 172_897_376
N_PARAMS = 42_816_089
ENCODER_FILTERS = 1664
DECODER = (("up1", 832, "pool3_pool"), ("up2", 416, "pool2_pool"), ("up3", 208, "pool1"),
           ("up4", 104, "conv1_relu"))
KERAS2_RENAMES = {"conv1/conv": "conv1_conv", "conv1/bn": "conv1_bn", "conv1/relu": "conv1_relu"}
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
MIN_DEPTH_NORM, MAX_DEPTH_NORM = 10.0, 1000.0


HALF_WIDTH_HINT = " This is the half-width DenseDepth variant; the released nyu.h5 has the full-width decoder."


class WeightFileError(FgBgError):
    """The weights file cannot be used; the message says what was found."""


def interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of 1-D linear interpolation with align_corners=True."""
    lo, hi, frac = align_corners_taps(n_in, n_out)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    m[np.arange(n_out), lo] += 1.0 - frac
    m[np.arange(n_out), hi] += frac
    return m


def align_corners_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two taps and the weight of the second for each output of linear interpolation with
    align_corners=True: output i = x[lo[i]] + (x[hi[i]] − x[lo[i]]) · frac[i]."""
    if n_in == 1 or n_out == 1:
        zeros = np.zeros(n_out, np.int32)
        return zeros, zeros, np.zeros(n_out, np.float32)
    pos = np.arange(n_out) * (n_in - 1) / (n_out - 1)
    lo = np.minimum(np.floor(pos).astype(np.int32), n_in - 2)
    return lo, lo + 1, (pos - lo).astype(np.float32)


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


def depth_norm_to_metres(p):
    """DenseDepth's raw output → metres in [0.1, 10]; works on NumPy arrays and backend tensors."""
    from keras import ops
    return ops.clip(1000.0 / ops.cast(p, "float32"), MIN_DEPTH_NORM, MAX_DEPTH_NORM) / 100.0


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError:
        raise FgBgError("DenseDepth needs TensorFlow and Keras 3: pip install 'fgbg-depth[depth]' "
                        "(or 'fgbg-depth[depth-gpu]' for NVIDIA GPUs)") from None
    if int(keras.__version__.split(".")[0]) < 3:
        raise FgBgError(f"DenseDepth needs Keras 3, found {keras.__version__}")
    return keras


def _upsample_layer_class(mode: str = "gather"):
    keras = _keras()
    from keras import ops

    class AlignCornersUpsample2x(keras.layers.Layer):
        """2× bilinear upsampling with align_corners=True. "gather": two taps per output and a
        lerp in float32 (one fused elementwise pass on a GPU); "matmul": two small matrix products."""

        def call(self, x):
            h, w = x.shape[1], x.shape[2]
            if h is None or w is None:
                raise ValueError("DenseDepth is built for a fixed input size")
            if mode == "matmul":
                ah = ops.cast(ops.convert_to_tensor(interp_matrix(h, 2 * h)), x.dtype)
                aw = ops.cast(ops.convert_to_tensor(interp_matrix(w, 2 * w)), x.dtype)
                x = ops.einsum("ih,nhwc->niwc", ah, x)
                return ops.einsum("jw,niwc->nijc", aw, x)
            y = ops.cast(x, "float32")
            for axis, n in ((1, h), (2, w)):
                lo, hi, frac = align_corners_taps(n, 2 * n)
                shape = [1, 1, 1, 1]
                shape[axis] = 2 * n
                first = ops.take(y, ops.convert_to_tensor(lo), axis=axis)
                second = ops.take(y, ops.convert_to_tensor(hi), axis=axis)
                y = first + (second - first) * ops.reshape(ops.convert_to_tensor(frac), shape)
            return ops.cast(y, x.dtype)

        def compute_output_shape(self, shape):
            return (shape[0], 2 * shape[1], 2 * shape[2], shape[3])

    return AlignCornersUpsample2x


def build_model(input_size=(448, 448), precision: str = "float32", upsample: str = "gather"):
    """The DenseDepth NYU architecture at a fixed input size (multiples of 32), random weights.
    `upsample` picks how the up-blocks interpolate (the same maths; see AlignCornersUpsample2x)."""
    keras = _keras()
    h, w = input_size
    if h % 32 or w % 32 or h < 32 or w < 32:
        raise FgBgError(f"DenseDepth input size must be multiples of 32, got {h}x{w}")
    if precision not in PRECISIONS:
        raise FgBgError(f"precision must be one of {', '.join(PRECISIONS)}")
    upsample = _upsample_layer_class(upsample)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[precision])
    try:
        encoder = keras.applications.DenseNet169(include_top=False, weights=None, input_shape=(h, w, 3))
        x = keras.layers.Conv2D(ENCODER_FILTERS, 1, padding="same", name="conv2")(encoder.get_layer("relu").output)
        for name, filters, skip in DECODER:
            x = upsample(name=f"{name}_upsampling2d")(x)
            x = keras.layers.Concatenate(name=f"{name}_concat")([x, encoder.get_layer(skip).output])
            x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_convA")(x)
            x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_convB")(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_leakyrelu")(x)
        # the last layer and the 1000/p step stay in float32 whatever the compute precision
        out = keras.layers.Conv2D(1, 3, padding="same", name="conv3", dtype="float32")(x)
    finally:
        keras.config.set_dtype_policy(previous)
    return keras.Model(encoder.input, out, name="densedepth_nyu")


def _attr_list(group, name: str) -> list[str] | None:
    """A string-list attribute as Keras 2 saved it: whole, or chunked as name0, name1, ..."""
    if name in group.attrs:
        values = list(group.attrs[name])
    elif f"{name}0" in group.attrs:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values.extend(group.attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    return [v.decode("utf8") if isinstance(v, (bytes, np.bytes_)) else str(v) for v in values]


def _short(weight_name: str) -> str:
    return weight_name.split("/")[-1].split(":")[0]


def _examples(items, k=3) -> str:
    items = list(items)
    more = f" and {len(items) - k} more" if len(items) > k else ""
    return ", ".join(items[:k]) + more


def _open_weights(path: Path):
    import h5py
    if not path.is_file():
        raise WeightFileError(f"DenseDepth weights '{path}' not found; fetch them with `fgbg-depth weights fetch`")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise WeightFileError(f"cannot read '{path}' as HDF5 ({str(exc).splitlines()[0][:80]}); the file is "
                              "truncated or not a Keras weights file: fetch it again") from None


def check_weights_file(path) -> None:
    """A quick look, without building the model, for a process that will not run it (a Ray driver):
    the file is a Keras save of the full-width model. `load_keras2_weights` checks every tensor."""
    path = Path(path)
    with _open_weights(path) as f:
        root = f["model_weights"] if "model_weights" in f else f
        names = _attr_list(root, "layer_names")
        if names is None:
            raise WeightFileError(f"'{path}' is HDF5 but not a Keras save (no layer_names attribute)")
        try:
            group = root["conv2"]
            kernel_name = next(n for n in _attr_list(group, "weight_names") or [] if _short(n) == "kernel")
            kernel = tuple(group[kernel_name].shape)
        except (KeyError, OSError, ValueError, StopIteration):
            raise WeightFileError(f"'{path}' is not the DenseDepth NYU model (no conv2 kernel)") from None
    if kernel != (1, 1, ENCODER_FILTERS, ENCODER_FILTERS):
        hint = HALF_WIDTH_HINT if kernel == (1, 1, ENCODER_FILTERS, ENCODER_FILTERS // 2) else ""
        raise WeightFileError(f"'{path}' is not the DenseDepth NYU model (conv2 kernel {kernel}).{hint}")


def describe(weights, precision: str, input_size, weights_sha256: str | None = None) -> dict:
    """What the card and the run's fingerprint record about a DenseDepth backend."""
    return {"backend": "densedepth", "weights": os.path.basename(weights or ""),
            "weights_sha256": weights_sha256 or (file_sha256(weights) if weights else None), "precision": precision,
            "input_size": list(input_size), "output_size": [input_size[0] // 2, input_size[1] // 2],
            "max_m": 10.0, "postprocess": "resize_taps + rounding on the device"}


def load_keras2_weights(model, path) -> dict:
    """Copy every weight of a Keras 2 HDF5 save into `model`, by layer name and weight short name.

    Fails (WeightFileError) unless every layer of the model that has weights was filled, every
    shape matched, and the file holds nothing the model lacks. Returns a small report.
    """
    path = Path(path)
    f = _open_weights(path)
    by_name = {layer.name: layer for layer in model.layers if layer.weights}
    loaded: set[str] = set()
    shape_errors: list[str] = []
    unknown: list[str] = []
    try:
        with f:
            root = f["model_weights"] if "model_weights" in f else f
            layer_names = _attr_list(root, "layer_names")
            if layer_names is None:
                raise WeightFileError(f"'{path}' is HDF5 but not a Keras save (no layer_names attribute)")
            for file_name in layer_names:
                group = root[file_name]
                weight_names = _attr_list(group, "weight_names") or []
                if not weight_names:
                    continue
                layer = by_name.get(KERAS2_RENAMES.get(file_name, file_name))
                if layer is None:
                    unknown.append(file_name)
                    continue
                arrays = {_short(n): group[n] for n in weight_names}
                variables = {v.name: v for v in layer.weights}
                if set(arrays) != set(variables):
                    shape_errors.append(f"{file_name} has weights {sorted(arrays)}, expected {sorted(variables)}")
                    continue
                bad = [f"{file_name}/{k} {tuple(a.shape)} (expected {tuple(variables[k].shape)})"
                       for k, a in arrays.items() if tuple(a.shape) != tuple(variables[k].shape)]
                if bad:
                    shape_errors.extend(bad)
                    continue
                for key, dataset in arrays.items():
                    variables[key].assign(np.asarray(dataset[()], dtype=np.float32))
                loaded.add(layer.name)
    except WeightFileError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise WeightFileError(f"'{path}' is damaged ({str(exc).splitlines()[0][:80]}); fetch it again") from None
    missing = sorted(set(by_name) - loaded)
    if shape_errors or unknown or missing:
        hint = ""
        if any(e.startswith("conv2/kernel (1, 1, 1664, 832)") for e in shape_errors):
            hint = HALF_WIDTH_HINT
        parts = []
        if shape_errors:
            parts.append(f"{len(shape_errors)} shape mismatches: {_examples(shape_errors)}")
        if unknown:
            parts.append(f"{len(unknown)} layers the model lacks: {_examples(unknown)}")
        if missing:
            parts.append(f"{len(missing)} layers not in the file: {_examples(missing)}")
        raise WeightFileError(f"'{path}' is not the DenseDepth NYU model ({'; '.join(parts)}).{hint}")
    return {"layers": len(loaded), "parameters": int(sum(int(np.prod(v.shape)) for v in model.weights))}


class DenseDepth:
    """`predict(uint8 N×H×W×3) -> float32 metres N×H/2×W/2` at a fixed, padded batch shape."""

    name = "densedepth"

    def __init__(self, weights, precision: str = "float32", input_size=(448, 448), batch_size: int | None = None,
                 model=None):
        self.weights = str(weights) if weights else None
        self.precision = precision
        self.input_size = tuple(input_size)
        self.output_size = (self.input_size[0] // 2, self.input_size[1] // 2)
        self.model = model if model is not None else build_model(self.input_size, precision)
        self.load_report = load_keras2_weights(self.model, self.weights) if model is None else None
        self.weights_sha256 = file_sha256(self.weights) if self.weights else None
        self.batch_size = batch_size or default_batch_size()
        self._fns: dict = {}
        self._posts: dict = {}

    def _compiled(self, post=None):
        """One compiled function of a fixed-shape uint8 batch → metres (or `post(metres)`), for the
        active backend; one per post-processing, made once."""
        key = post
        if key in self._fns:
            return self._fns[key]
        keras = _keras()
        from keras import ops
        model = self.model
        finish = post or (lambda m: m)

        def forward(x_uint8):
            x = ops.cast(x_uint8, "float32") / 255.0
            return finish(ops.squeeze(depth_norm_to_metres(model(x, training=False)), -1))

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf
            gpu = bool(tf.config.list_physical_devices("GPU"))
            fn = tf.function(forward, jit_compile=gpu, reduce_retracing=True)
        elif backend == "jax":
            import jax
            trainable = [v.value for v in model.trainable_variables]
            frozen = [v.value for v in model.non_trainable_variables]

            @jax.jit
            def run(tv, ntv, x_uint8):
                x = x_uint8.astype("float32") / 255.0
                y, _ = model.stateless_call(tv, ntv, x, training=False)
                return finish(ops.squeeze(depth_norm_to_metres(y), -1))

            def fn(x):
                return run(trainable, frozen, x)
        else:
            import torch

            def fn(x):
                with torch.no_grad():
                    return forward(x)
        self._fns[key] = fn
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
            return FgBgError(f"DenseDepth ran out of device memory at batch size {self.batch_size} "
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

    def describe(self) -> dict:
        return describe(self.weights, self.precision, self.input_size, self.weights_sha256)


def chosen_batch_size() -> int | None:
    """The batch size FGBG_DEPTH_BATCH asks for, or None when it is not set."""
    chosen = os.environ.get("FGBG_DEPTH_BATCH", "").strip()
    if not chosen:
        return None
    if not chosen.isdigit() or int(chosen) < 1:
        raise FgBgError(f"FGBG_DEPTH_BATCH must be a positive whole number, got '{chosen}'")
    return int(chosen)


def default_batch_size() -> int:
    """FGBG_DEPTH_BATCH if set, else 128 on a GPU (8.5 GiB in bfloat16 at 448×448) and 4 on a CPU."""
    chosen = chosen_batch_size()
    if chosen:
        return chosen
    try:
        import keras
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            return 128 if tf.config.list_physical_devices("GPU") else 4
        if keras.backend.backend() == "jax":
            import jax
            return 128 if jax.default_backend() == "gpu" else 4
    except Exception:
        pass
    return 4
