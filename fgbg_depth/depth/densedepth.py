"""DenseDepth (NYU weights) rebuilt in Keras 3, loaded from the Keras 2.2.4 `nyu.h5` with h5py.

The released weights belong to the full-width decoder: a 1×1 `conv2` with 1664 filters on the
DenseNet-169 encoder's final `relu`, then four up-blocks (832, 416, 208, 104 filters), each a 2×
bilinear upsampling with align_corners=True, a concatenation with an encoder skip, convA 3×3,
convB 3×3 and one LeakyReLU(0.2); `conv3` 3×3 gives one channel at half the input resolution.
The output p is DepthNorm: metres = clip(1000 / p, 10, 1000) / 100.

Keras 3 runs on TensorFlow here; the same code runs on the JAX or PyTorch backend (KERAS_BACKEND).
Inference (compiled fixed-batch function, uint8 in, units out, two batches in flight) is the shared
`runner.KerasDepthModel`; this file is the architecture and the loader.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..assets import file_sha256
from ..errors import FgBgError
from .runner import (KerasDepthModel, align_corners_taps, check_precision, keras_module, misfit,
                     resize_align_corners)

NYU_URL = "https://s3-eu-west-1.amazonaws.com/densedepth/nyu.h5"
NYU_BYTES = 172_897_376
N_PARAMS = 42_816_089
ENCODER_FILTERS = 1664
DECODER = (("up1", 832, "pool3_pool"), ("up2", 416, "pool2_pool"), ("up3", 208, "pool1"),
           ("up4", 104, "conv1_relu"))
KERAS2_RENAMES = {"conv1/conv": "conv1_conv", "conv1/bn": "conv1_bn", "conv1/relu": "conv1_relu"}
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


def depth_norm_to_metres(p):
    """DenseDepth's raw output → metres in [0.1, 10]; works on NumPy arrays and backend tensors."""
    from keras import ops
    return ops.clip(1000.0 / ops.cast(p, "float32"), MIN_DEPTH_NORM, MAX_DEPTH_NORM) / 100.0


def _keras():
    return keras_module("DenseDepth")


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
            return resize_align_corners(x, 2 * h, 2 * w)

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
    policy = check_precision(precision)
    upsample = _upsample_layer_class(upsample)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
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
        raise WeightFileError(f"'{path}' is not the DenseDepth NYU model "
                              f"({misfit(shape_errors, unknown, missing, 'layers')}).{hint}")
    return {"layers": len(loaded), "parameters": int(sum(int(np.prod(v.shape)) for v in model.weights))}


class DenseDepth(KerasDepthModel):
    """`predict(uint8 N×H×W×3) -> float32 metres N×H/2×W/2` through the shared runner."""

    name = "densedepth"
    display_name = "DenseDepth"

    def __init__(self, weights, precision: str = "float32", input_size=(448, 448), batch_size: int | None = None,
                 model=None):
        self.weights = str(weights) if weights else None
        self.precision = precision
        self.input_size = tuple(input_size)
        self.output_size = (self.input_size[0] // 2, self.input_size[1] // 2)
        self.model = model if model is not None else build_model(self.input_size, precision)
        self.load_report = load_keras2_weights(self.model, self.weights) if model is None else None
        self.weights_sha256 = file_sha256(self.weights) if self.weights else None
        super().__init__(batch_size)

    def preprocess(self, x_uint8):
        from keras import ops
        return ops.cast(x_uint8, "float32") / 255.0

    def to_metres(self, y):
        from keras import ops
        return ops.squeeze(depth_norm_to_metres(y), -1)

    def describe(self) -> dict:
        return describe(self.weights, self.precision, self.input_size, self.weights_sha256)
