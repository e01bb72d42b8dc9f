"""Write weight files in the layout Keras 2.2.4's `model.save` used, for the loader's tests.

Layer and weight names keep Keras 2's slashes (`conv1/conv/kernel:0`), so h5py nests groups the way
the real `nyu.h5` does; names are stored as byte strings, optionally chunked like Keras 2 did for
attributes over the HDF5 header limit (layer_names0, layer_names1, ...).
"""

import json

import h5py
import numpy as np

from fgbg_depth.depth.densedepth import KERAS2_RENAMES

TO_KERAS2 = {v: k for k, v in KERAS2_RENAMES.items()}
HALF_WIDTH = {  # the repository's later model.py: decoder at half width
    "conv2": {"kernel": (1, 1, 1664, 832), "bias": (832,)},
    "up1_convA": {"kernel": (3, 3, 832 + 256, 416), "bias": (416,)},
    "up1_convB": {"kernel": (3, 3, 416, 416), "bias": (416,)},
    "up2_convA": {"kernel": (3, 3, 416 + 128, 208), "bias": (208,)},
    "up2_convB": {"kernel": (3, 3, 208, 208), "bias": (208,)},
    "up3_convA": {"kernel": (3, 3, 208 + 64, 104), "bias": (104,)},
    "up3_convB": {"kernel": (3, 3, 104, 104), "bias": (104,)},
    "up4_convA": {"kernel": (3, 3, 104 + 64, 52), "bias": (52,)},
    "up4_convB": {"kernel": (3, 3, 52, 52), "bias": (52,)},
    "conv3": {"kernel": (3, 3, 52, 1), "bias": (1,)},
}


def random_weight(rng, short, shape):
    if short == "moving_variance":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if short == "gamma":
        return (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
    if short in ("beta", "moving_mean", "bias"):
        return (0.05 * rng.standard_normal(shape)).astype(np.float32)
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return (rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)).astype(np.float32)


def model_layers(model, rng, shapes=None):
    """[(keras2 layer name, [(keras2 weight name, array)])] for every layer of a Keras 3 model."""
    shapes = shapes or {}
    layers = []
    for layer in model.layers:
        name = TO_KERAS2.get(layer.name, layer.name)
        weights = []
        for v in layer.weights:
            shape = shapes.get(layer.name, {}).get(v.name, tuple(v.shape))
            weights.append((f"{name}/{v.name}:0", random_weight(rng, v.name, shape)))
        if layer.name == "conv3" and weights:  # keep DepthNorm p near 20 so 1000/p is not clipped
            weights = [(n, a * 0.01 if n.endswith("kernel:0") else np.full_like(a, 20.0)) for n, a in weights]
        layers.append((name, weights))
    return layers


def _set_names(attrs, key, names, chunks):
    arr = np.array([n.encode("utf8") for n in names], dtype=f"S{max([len(n) for n in names] + [1])}")
    if chunks <= 1:
        attrs[key] = arr
    else:
        for i, part in enumerate(np.array_split(arr, chunks)):
            attrs[f"{key}{i}"] = part


def write_keras2_h5(path, layers, chunks=1):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"name": "model_1"}}).encode()
        g = f.create_group("model_weights")
        g.attrs["keras_version"] = b"2.2.4"
        g.attrs["backend"] = b"tensorflow"
        _set_names(g.attrs, "layer_names", [n for n, _ in layers], chunks)
        for name, weights in layers:
            lg = g.require_group(name)
            _set_names(lg.attrs, "weight_names", [w for w, _ in weights], 1) if weights else \
                lg.attrs.create("weight_names", np.array([], dtype="S1"))
            for wname, arr in weights:
                lg.create_dataset(wname, data=arr)
    return {name: dict(weights) for name, weights in layers}
