"""A background-removal model in an ONNX file, run by ONNX Runtime: photos in, foreground probabilities out.

Every matting backend has the same small protocol: `input_size` (H, W), `predict(images)` (uint8
N×H×W×3 in, float32 probabilities N×H×W in [0, 1] at the photos' own size out) and `describe()` for
the records. BiRefNet's exports are the model this is written for (one NCHW image in, one N×1×H×W map
of logits out); the file's own input and output names and shapes decide how it is fed.

ONNX Runtime is an optional extra, imported only when a model is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import FgBgError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_BATCH = {CPU: 1, CUDA: 4}  # BiRefNet at 1024² takes GBs per image on a CPU; 4 fits any recent GPU
INSTALL_HINT = ("pip install 'fgbg-depth[cutout]' (or 'fgbg-depth[cutout-gpu]' for an NVIDIA GPU; "
                "never both in one environment)")

DEFAULT_PREPROCESSOR = {  # BiRefNet's preprocessor_config.json
    "do_resize": True,
    "size": {"height": 1024, "width": 1024},
    "resample": 2,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
}
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
TENSOR_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


@dataclass(frozen=True)
class Preprocessing:
    """What a Hugging Face image processor's config asks for, parsed once."""

    size: tuple[int, int] | None  # (H, W) to resize to; None: feed the picture at its own size
    resample: int  # Pillow's numbering, which HF's configs share
    rescale_factor: float | None
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None


@dataclass(frozen=True)
class ModelLayout:
    """The model's input and output as ONNX Runtime reports them; checked against BiRefNet's layout."""

    input_name: str
    output_name: str
    input_dtype: type
    fixed_batch: int | None  # None: the batch axis is free
    height: int | None  # None: not fixed by the model
    width: int | None


@dataclass(frozen=True)
class ModelInput:
    """How a photo becomes the model's input and its output becomes probabilities at the photo's size:
    small and picklable, so the processes that decode and finish photos hold it without the model."""

    preprocessing: Preprocessing
    size: tuple[int, int]  # (H, W) the model takes
    fixed_size: bool  # the file fixes H and W (else the preprocessor's size is used)
    file_name: str

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 → float32 3×S×S: resize, rescale, normalise, as the preprocessor config says."""
        rgb = _checked_pictures(np.asarray(rgb)[None])[0]
        prep = self.preprocessing
        h, w = self.size
        if prep.size is not None and rgb.shape[:2] != (h, w):
            rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling(prep.resample)))
        elif self.fixed_size and rgb.shape[:2] != (h, w):
            raise FgBgError(f"'{self.file_name}' takes {w}×{h} pictures and its preprocessor config says not to "
                            f"resize; this photo is {rgb.shape[1]}×{rgb.shape[0]}")
        x = rgb.astype(np.float32)
        if prep.rescale_factor is not None:
            x *= np.float32(prep.rescale_factor)
        if prep.mean is not None:
            x -= np.asarray(prep.mean, np.float32)
            x /= np.asarray(prep.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def restore(self, logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """One map of logits → float32 probabilities of size (h, w); see `probabilities_from_logits`."""
        return probabilities_from_logits(logits, size)


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise FgBgError(f"cut-outs need ONNX Runtime: {INSTALL_HINT}") from None
    return onnxruntime


def preprocessing_from_config(config: dict | None) -> Preprocessing:
    """A preprocessor_config.json's settings (None: BiRefNet's), with unknown keys ignored."""
    merged = {**DEFAULT_PREPROCESSOR, **(config or {})}
    size = None
    if merged.get("do_resize", True):
        size = _config_size(merged.get("size"))
    resample = merged.get("resample", 2)
    if resample not in RESAMPLE_NAMES:
        raise FgBgError(f"preprocessor config: 'resample' must be one of {sorted(RESAMPLE_NAMES)}, got {resample!r}")
    factor = None
    if merged.get("do_rescale", True):
        factor = _positive_number(merged.get("rescale_factor"), "rescale_factor")
    mean = std = None
    if merged.get("do_normalize", True):
        mean = _three_numbers(merged.get("image_mean"), "image_mean")
        std = _three_numbers(merged.get("image_std"), "image_std")
        if 0 in std:
            raise FgBgError(f"preprocessor config: 'image_std' must not hold 0, got {list(std)}")
    return Preprocessing(size, int(resample), factor, mean, std)


def _config_size(size) -> tuple[int, int]:
    if isinstance(size, dict) and "height" in size and "width" in size:
        h, w = size["height"], size["width"]
    elif isinstance(size, int) and not isinstance(size, bool):
        h = w = size
    else:
        raise FgBgError(f"preprocessor config: 'size' must be {{\"height\": H, \"width\": W}}, got {size!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (h, w)):
        raise FgBgError(f"preprocessor config: 'size' must hold positive whole numbers, got {size!r}")
    return h, w


def _positive_number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise FgBgError(f"preprocessor config: '{key}' must be a positive number, got {value!r}")
    return float(value)


def _three_numbers(value, key: str) -> tuple[float, float, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise FgBgError(f"preprocessor config: '{key}' must be 3 numbers (R, G, B), got {value!r}")
    return tuple(float(v) for v in value)


def choose_providers(device: str, available: list[str]) -> list:
    """ONNX Runtime's provider list for a device; the CPU always last, for operators CUDA lacks."""
    if device not in DEVICES:
        raise FgBgError(f"device must be one of {', '.join(DEVICES)}, not '{device}'")
    if device == "cuda" and CUDA not in available:
        raise FgBgError("device cuda: this ONNX Runtime has no CUDA support; pip install 'fgbg-depth[cutout-gpu]' "
                        "in an environment without the CPU onnxruntime, or use --device cpu")
    if device in ("auto", "cuda") and CUDA in available:
        # HEURISTIC: cuDNN picks its convolution algorithm by rule, not by timing it (the default),
        # so the same GPU gives the same algorithm and the same numbers on every run.
        return [(CUDA, {"cudnn_conv_algo_search": "HEURISTIC"}), CPU]
    return [CPU]


def read_layout(session, file_name: str, preprocessing: Preprocessing) -> ModelLayout:
    """The model's input and output, or a one-line refusal naming what the file holds."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    reason = _layout_misfit(inputs, outputs)
    if reason:
        raise FgBgError(f"'{file_name}' does not fit ({reason}): a background-removal model takes one image "
                        f"N×3×H×W and returns one map N×1×H×W; it has inputs {_describe_args(inputs)} and "
                        f"outputs {_describe_args(outputs)}")
    batch, _, height, width = inputs[0].shape
    fixed_batch = batch if _is_number(batch) and batch > 0 else None
    height = height if _is_number(height) and height > 0 else None
    width = width if _is_number(width) and width > 0 else None
    if (height is None or width is None) and preprocessing.size is None:
        raise FgBgError(f"'{file_name}' takes pictures of any size and its preprocessor config says not to resize; "
                        "give the preprocessor config a 'size' and 'do_resize': true")
    return ModelLayout(inputs[0].name, outputs[0].name, TENSOR_DTYPES[inputs[0].type], fixed_batch, height, width)


def _layout_misfit(inputs, outputs) -> str | None:
    """What keeps a model from BiRefNet's layout, or None. A named (free) channel axis is let through."""
    if len(inputs) != 1:
        return f"{len(inputs)} inputs"
    if len(inputs[0].shape) != 4:
        return f"input of rank {len(inputs[0].shape)}"
    if _is_number(inputs[0].shape[1]) and inputs[0].shape[1] != 3:
        return f"{inputs[0].shape[1]} channels on the input's axis 1"
    if len(outputs) != 1:
        return f"{len(outputs)} outputs"
    if len(outputs[0].shape) != 4:
        return f"output of rank {len(outputs[0].shape)}"
    if _is_number(outputs[0].shape[1]) and outputs[0].shape[1] != 1:
        return f"{outputs[0].shape[1]} channels on the output's axis 1"
    if inputs[0].type not in TENSOR_DTYPES or outputs[0].type not in TENSOR_DTYPES:
        return "tensors other than float32 or float16"
    return None


def _is_number(dim) -> bool:
    return isinstance(dim, int) and not isinstance(dim, bool)


def _describe_args(args) -> str:
    if not args:
        return "(none)"
    return ", ".join(f"'{a.name}' {a.type.removeprefix('tensor(').rstrip(')')}[{', '.join(map(str, a.shape))}]"
                     for a in args)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) in float32, without overflow for any x."""
    x = np.asarray(logits, np.float32)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.float32, copy=False)


def probabilities_from_logits(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One S×S map of logits → probabilities h×w: sigmoid, bilinear resize in float, clipped to [0, 1]."""
    prob = sigmoid(logits)
    h, w = size
    if prob.shape != (h, w):
        prob = np.asarray(Image.fromarray(prob).resize((w, h), Image.Resampling.BILINEAR), np.float32)
    return np.clip(prob, 0.0, 1.0)


class OnnxMatting:
    """BiRefNet (or any model of its layout) in an ONNX file; see the module's docstring for the protocol.

    `preprocessor`: the parsed preprocessor_config.json (None: BiRefNet's). `device`: auto (CUDA where this
    ONNX Runtime has it), cpu or cuda. `batch_size`: pictures per run (None: 1 on the CPU, 4 on CUDA); a
    model whose batch axis is fixed runs batches of that size whatever is asked. `info`: provenance (model
    id, revision, weights SHA-256, licence) that `describe()` adds to its own.
    """

    def __init__(self, model_path, preprocessor: dict | None = None, *, device: str = "auto",
                 batch_size: int | None = None, info: dict | None = None):
        ort = import_onnxruntime()
        path = Path(model_path)
        if not path.is_file():
            raise FgBgError(f"matting model '{path}' does not exist; pass an .onnx file")
        if batch_size is not None and (not _is_number(batch_size) or batch_size < 1):
            raise FgBgError(f"batch size must be a whole number of at least 1, not {batch_size!r}")
        self._preprocessing = preprocessing_from_config(preprocessor)
        providers = choose_providers(device, ort.get_available_providers())
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: ONNX Runtime's warnings speak to developers, not users
        options.use_deterministic_compute = True
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # ONNX Runtime's own exception types (InvalidProtobuf, Fail, ...) share no base
            raise FgBgError(f"ONNX Runtime cannot load '{path.name}' ({_first_line(exc)}); "
                            "is it a complete .onnx file?") from None
        self.provider: str = self._session.get_providers()[0]
        if device == "cuda" and self.provider != CUDA:
            raise FgBgError("device cuda: ONNX Runtime fell back to the CPU (its CUDA or cuDNN libraries were not "
                            "found); install the versions onnxruntime-gpu asks for, or use --device cpu")
        self._layout = read_layout(self._session, path.name, self._preprocessing)
        if self._layout.fixed_batch is not None:
            self.batch_size = self._layout.fixed_batch
        else:
            self.batch_size = batch_size or DEFAULT_BATCH.get(self.provider, 1)
        self._file_name = path.name
        layout = self._layout
        size = self._preprocessing.size
        self.input = ModelInput(self._preprocessing, (layout.height or size[0], layout.width or size[1]),
                                layout.height is not None and layout.width is not None, path.name)
        self._ort_version = ort.__version__
        self._info = dict(info or {})

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the model's input: fixed by the file where it is, else the preprocessor's size."""
        return self.input.size

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        return self.input.preprocess(rgb)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 N×3×S×S → float32 N×S×S, run in chunks of `batch_size` (padded where the batch is fixed)."""
        batch = np.asarray(batch, np.float32)
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"logits() takes a float32 N×3×H×W batch, got shape {batch.shape}")
        chunks = []
        for start in range(0, len(batch), self.batch_size):
            chunk = batch[start:start + self.batch_size]
            chunks.append(self._run(chunk))
        if not chunks:
            return np.zeros((0, *batch.shape[2:]), np.float32)
        return np.concatenate(chunks)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        n = len(chunk)
        fixed = self._layout.fixed_batch
        if fixed is not None and n < fixed:  # a fixed batch of k > 1: fill it with copies of the last picture
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - n, axis=0)])
        feed = {self._layout.input_name: chunk.astype(self._layout.input_dtype, copy=False)}
        try:
            (out,) = self._session.run([self._layout.output_name], feed)
        except Exception as exc:
            raise FgBgError(f"ONNX Runtime failed on a batch of {len(chunk)} ({_first_line(exc)}); "
                            "try a smaller batch size or --device cpu") from None
        if out.ndim != 4 or out.shape[0] != len(chunk) or out.shape[1] != 1:
            raise FgBgError(f"'{self._file_name}' returned shape {list(out.shape)} for a batch of {len(chunk)}; "
                            "a background-removal model must return N×1×H×W")
        out = out[:n, 0].astype(np.float32)
        if np.isnan(out).any():
            raise FgBgError(f"'{self._file_name}' returned NaN; the file may be damaged, or its precision too low "
                            "for this device")
        return out

    def restore(self, logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return self.input.restore(logits, size)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 N×H×W×3 photos → float32 N×H×W foreground probabilities in [0, 1]."""
        images = _checked_pictures(images)
        n, h, w = images.shape[:3]
        probs = np.empty((n, h, w), np.float32)
        for start in range(0, n, self.batch_size):
            batch = np.stack([self.preprocess(rgb) for rgb in images[start:start + self.batch_size]])
            for i, logits in enumerate(self.logits(batch)):
                probs[start + i] = self.restore(logits, (h, w))
        return probs

    def describe(self) -> dict:
        layout = self._layout
        return {
            "backend": "onnx",
            "file": self._file_name,
            "input_size": list(self.input_size),
            "input": layout.input_name,
            "output": layout.output_name,
            "batch": "free" if layout.fixed_batch is None else layout.fixed_batch,
            "provider": self.provider,
            "onnxruntime": self._ort_version,
            **self._info,
        }


def _checked_pictures(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"expected uint8 N×H×W×3 pictures, got {images.dtype} of shape {images.shape}")
    return images


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
