"""Tiny ONNX models in BiRefNet's layout (and some that do not fit it), written with onnx.helper for tests.

`colour_key_model` is a chroma key: its logits are a known function of the pictures it is fed, so a
test can compute the exact probabilities `predict` must return. The others are misfits a matting
backend must refuse. Every builder writes the same bytes for the same arguments.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9  # ONNX Runtime 1.32 reads IR versions up to 11
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GREEN = (0, 255, 0)


def _save(path, nodes, inputs, outputs, initializers=()) -> Path:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="fgbg-depth tests")
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)
    return path


def _floats(name, values, shape=()):
    return numpy_helper.from_array(np.asarray(values, np.float32).reshape(shape), name)


def _axes(name, axes):
    return numpy_helper.from_array(np.asarray(axes, np.int64), name)


def _image(name, batch, channels=3, size=32, rank=4):
    """A float tensor's description: N×C×S×S (rank 4) or C×S×S (rank 3); `size` None: free height, width."""
    spatial = ["height", "width"] if size is None else [size, size]
    shape = [channels, *spatial] if rank == 3 else [batch, channels, *spatial]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _key_distance_nodes(input_name: str) -> list:
    """`distance`: each pixel's distance from `key`, taken back to 0..255 from the normalised input as
    (x · std + mean) / rescale (initializers std, mean, rescale, key, channel_axis)."""
    return [
        helper.make_node("Mul", [input_name, "std"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mean"], ["unit"]),
        helper.make_node("Div", ["unit", "rescale"], ["pixel"]),
        helper.make_node("Sub", ["pixel", "key"], ["difference"]),
        helper.make_node("Mul", ["difference", "difference"], ["squared"]),
        helper.make_node("ReduceSum", ["squared", "channel_axis"], ["distance_squared"], keepdims=1),
        helper.make_node("Sqrt", ["distance_squared"], ["distance"]),
    ]


def colour_key_model(path, size: int | None = 32, batch: int | None = None, key=GREEN, threshold: float = 60.0,
                     gain: float = 0.1, mean=IMAGENET_MEAN, std=IMAGENET_STD, rescale: float = 1 / 255,
                     input_name: str = "input_image", output_name: str = "output_image") -> Path:
    """logits = gain · (‖pixel − key‖ − threshold), the pixel taken back to 0..255 from the normalised
    input (x · std + mean) / rescale: a pixel near the key colour is background, anything else object.

    `size` None leaves height and width free; `batch` None leaves the batch free, an int fixes it.
    """
    batch_dim = "N" if batch is None else batch
    nodes = [
        *_key_distance_nodes(input_name),
        helper.make_node("Sub", ["distance", "threshold"], ["margin"]),
        helper.make_node("Mul", ["margin", "gain"], [output_name]),
    ]
    initializers = [
        _floats("std", std, (1, 3, 1, 1)),
        _floats("mean", mean, (1, 3, 1, 1)),
        _floats("rescale", rescale),
        _floats("key", key, (1, 3, 1, 1)),
        _axes("channel_axis", [1]),
        _floats("threshold", threshold),
        _floats("gain", gain),
    ]
    return _save(path, nodes, [_image(input_name, batch_dim, size=size)],
                 [_image(output_name, batch_dim, channels=1, size=size)], initializers)


def linear_key_model(path, size: int = 64, key=GREEN, span: float = 255.0) -> Path:
    """A matting stand-in that gets a mixed pixel's alpha right: for a photo I = aF + (1 − a)K of an object F
    on a key colour K with ‖F − K‖ = span, a = ‖I − K‖ / span; the logits are log a − log(1 − a), so the
    sigmoid gives a back (clipped to [1e-4, 1 − 1e-4]). Input normalised as BiRefNet's."""
    nodes = [
        *_key_distance_nodes("input_image"),
        helper.make_node("Div", ["distance", "span"], ["share"]),
        helper.make_node("Clip", ["share", "low", "high"], ["alpha"]),
        helper.make_node("Sub", ["one", "alpha"], ["rest"]),
        helper.make_node("Log", ["alpha"], ["log_alpha"]),
        helper.make_node("Log", ["rest"], ["log_rest"]),
        helper.make_node("Sub", ["log_alpha", "log_rest"], ["output_image"]),
    ]
    initializers = [_floats("std", IMAGENET_STD, (1, 3, 1, 1)), _floats("mean", IMAGENET_MEAN, (1, 3, 1, 1)),
                    _floats("rescale", 1 / 255), _floats("key", key, (1, 3, 1, 1)), _axes("channel_axis", [1]),
                    _floats("span", span), _floats("low", 1e-4), _floats("high", 1 - 1e-4), _floats("one", 1.0)]
    return _save(path, nodes, [_image("input_image", "N", size=size)],
                 [_image("output_image", "N", channels=1, size=size)], initializers)


def _channel_sum(source, target):
    return helper.make_node("ReduceSum", [source, "sum_axis"], [target], keepdims=1)


def two_inputs_model(path, size: int = 32) -> Path:
    """An image and a second input, 'scale', multiplied into the map."""
    nodes = [_channel_sum("input_image", "summed"), helper.make_node("Mul", ["summed", "scale"], ["output_image"])]
    inputs = [_image("input_image", "N", size=size), _image("scale", "N", channels=1, size=size)]
    return _save(path, nodes, inputs, [_image("output_image", "N", channels=1, size=size)],
                 [_axes("sum_axis", [1])])


def four_channel_model(path, size: int = 32) -> Path:
    """An RGBA input N×4×S×S."""
    return _save(path, [_channel_sum("input_image", "output_image")],
                 [_image("input_image", "N", channels=4, size=size)],
                 [_image("output_image", "N", channels=1, size=size)], [_axes("sum_axis", [1])])


def rank3_model(path, size: int = 32) -> Path:
    """One picture 3×S×S with no batch axis."""
    nodes = [helper.make_node("ReduceSum", ["input_image", "sum_axis"], ["output_image"], keepdims=1)]
    return _save(path, nodes, [_image("input_image", None, size=size, rank=3)],
                 [_image("output_image", None, channels=1, size=size, rank=3)], [_axes("sum_axis", [0])])


def two_outputs_model(path, size: int = 32) -> Path:
    """A map and a copy of it, 'edges'."""
    nodes = [_channel_sum("input_image", "output_image"), helper.make_node("Identity", ["output_image"], ["edges"])]
    return _save(path, nodes, [_image("input_image", "N", size=size)],
                 [_image("output_image", "N", channels=1, size=size), _image("edges", "N", channels=1, size=size)],
                 [_axes("sum_axis", [1])])


def three_channel_output_model(path, size: int = 32) -> Path:
    """Returns its input: N×3×S×S, not a one-channel map."""
    nodes = [helper.make_node("Identity", ["input_image"], ["output_image"])]
    return _save(path, nodes, [_image("input_image", "N", size=size)], [_image("output_image", "N", size=size)])


MISFITS = {  # builder → what the refusal must name
    "two inputs": (two_inputs_model, ["'input_image'", "'scale'"]),
    "four channels": (four_channel_model, ["[N, 4, 32, 32]"]),
    "rank 3": (rank3_model, ["[3, 32, 32]"]),
    "two outputs": (two_outputs_model, ["'output_image'", "'edges'"]),
    "three-channel output": (three_channel_output_model, ["'output_image' float[N, 3, 32, 32]"]),
}
