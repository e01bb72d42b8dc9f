"""Depth Anything V2 rebuilt in Keras 3, loaded from a checkpoint in the transformers layout
(`config.json` + `model.safetensors`, as published on the Hub as `depth-anything/...-hf`).

The forward pass is that of transformers' `DepthAnythingForDepthEstimation`:

    uint8 pixels → /255, normalised by the checkpoint's mean and std (ImageNet's)
    → DINOv2: 14×14 patches (stride 14) + CLS token + position embeddings, bicubic-resized to the
      input's patch grid once, at load time, exactly as transformers resizes them on every call
    → L pre-norm transformer blocks (attention, MLP with exact GELU, each scaled by a learnt vector)
    → four chosen blocks' outputs, each layer-normed (the backbone's final norm)
    → reassembled: CLS dropped, tokens laid out as a grid, 1×1 projection, resized ×4 and ×2
      (transposed convolutions with kernel = stride, done as a matrix product and a pixel
      shuffle), ×1, ×0.5 (3×3 stride-2 convolution)
    → 3×3 convolutions to the fusion width → four fusion blocks, deepest first: residual conv
      units, bilinear resize (align_corners) to the next stage's size (×2 for the last), 1×1 conv
    → head: 3×3 conv, bilinear resize to the input size, 3×3 conv, ReLU, 1×1 conv
    → sigmoid × max_depth (metric checkpoints: metres) or ReLU (relative: inverse depth up to scale).

Every tensor of the checkpoint is mapped onto a Keras variable (or, for the two that inference
never reads, checked and set aside); every shape is checked first, and a file that does not fit is
refused with what was found. Inference is the shared `runner.KerasDepthModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FgBgError
from .checkpoint import DEFAULT_MODEL, Architecture, CheckpointError
from .runner import KerasDepthModel, check_precision, keras_module, misfit, resize_align_corners

def bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of PyTorch's `interpolate(mode="bicubic", align_corners=False)` (cubic
    convolution with a = −0.75, edge samples repeated), coefficients in float32 as PyTorch takes them."""
    f, a = np.float32, np.float32(-0.75)
    scale = f(n_in) / f(n_out)
    out = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        src = scale * (f(i) + f(0.5)) - f(0.5)
        base = int(np.floor(src))
        t = f(src - f(base))

        def near(x):  # |x| ≤ 1
            return ((a + f(2)) * x - (a + f(3))) * x * x + f(1)

        def far(x):  # 1 < |x| < 2
            return ((a * x - f(5) * a) * x + f(8) * a) * x - f(4) * a

        for k, w in enumerate((far(t + f(1)), near(t), near(f(1) - t), far(f(2) - t))):
            out[i, min(max(base - 1 + k, 0), n_in - 1)] += float(w)
    return out


def resize_position_embeddings(table: np.ndarray, grid: int, out_h: int, out_w: int) -> np.ndarray:
    """(1, 1 + grid², C) → (1, 1 + out_h·out_w, C): the CLS entry kept, the patch grid bicubic-resized
    as transformers' Dinov2Embeddings.interpolate_pos_encoding does (unchanged when the grids match)."""
    if (out_h, out_w) == (grid, grid):
        return table.astype(np.float32)
    cls, patches = table[:, :1], table[0, 1:].reshape(grid, grid, -1).astype(np.float64)
    resized = np.einsum("ih,hwc,jw->ijc", bicubic_matrix(grid, out_h), patches, bicubic_matrix(grid, out_w))
    return np.concatenate([cls, resized.reshape(1, out_h * out_w, -1).astype(np.float32)], axis=1)


# -- the Keras model ----------------------------------------------------------------------------

@dataclass
class _Target:
    """Where one checkpoint tensor goes: its expected shape there, the variable (None: checked only)
    and how the PyTorch layout becomes the Keras one."""

    shape: tuple[int, ...]
    variable: object = None
    transform: object = None


def _linear(w):
    return w.T  # (out, in) → (in, out)


def _conv(w):
    return w.transpose(2, 3, 1, 0)  # (out, in, kh, kw) → (kh, kw, in, out)


def _pointwise(w):
    return w[:, :, 0, 0].T  # 1×1 conv (out, in, 1, 1) → dense (in, out)


def _layer_classes():
    keras = keras_module("Depth Anything")
    from keras import ops

    class Embeddings(keras.layers.Layer):
        """Patch embedding, CLS token and (already resized) position embeddings."""

        def __init__(self, hidden: int, patch: int, tokens: int, **kw):
            super().__init__(**kw)
            self.hidden, self.patch, self.tokens = hidden, patch, tokens

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(self.patch, self.patch, 3, self.hidden), name="patch_kernel")
            self.bias = self.add_weight(shape=(self.hidden,), name="patch_bias", initializer="zeros")
            self.cls_token = self.add_weight(shape=(1, 1, self.hidden), name="cls_token", initializer="zeros")
            self.position = self.add_weight(shape=(1, self.tokens + 1, self.hidden), name="position")

        def call(self, x):
            y = ops.conv(x, self.kernel, strides=self.patch, padding="valid") + self.bias
            y = ops.reshape(y, (-1, self.tokens, self.hidden))
            cls = ops.zeros_like(y[:, :1]) + self.cls_token
            return ops.concatenate([cls, y], axis=1) + self.position

    class Block(keras.layers.Layer):
        """One DINOv2 transformer block: x + s1·attn(norm1(x)), then + s2·mlp(norm2(·))."""

        def __init__(self, arch: Architecture, **kw):
            super().__init__(**kw)
            self.heads, self.hidden = arch.heads, arch.hidden
            dense = keras.layers.Dense
            self.norm1 = keras.layers.LayerNormalization(epsilon=arch.eps, name="norm1")
            self.query = dense(arch.hidden, use_bias=arch.qkv_bias, name="query")
            self.key = dense(arch.hidden, use_bias=arch.qkv_bias, name="key")
            self.value = dense(arch.hidden, use_bias=arch.qkv_bias, name="value")
            self.out = dense(arch.hidden, name="out")
            self.norm2 = keras.layers.LayerNormalization(epsilon=arch.eps, name="norm2")
            self.fc1 = dense(arch.mlp, name="fc1")
            self.fc2 = dense(arch.hidden, name="fc2")

        def build(self, input_shape):
            for layer in (self.norm1, self.query, self.key, self.value, self.norm2, self.fc1):
                layer.build(input_shape)
            self.out.build((*input_shape[:-1], self.hidden))
            self.fc2.build((*input_shape[:-1], self.fc1.units))
            self.scale1 = self.add_weight(shape=(self.hidden,), name="layer_scale1", initializer="ones")
            self.scale2 = self.add_weight(shape=(self.hidden,), name="layer_scale2", initializer="ones")

        def call(self, x):
            tokens, d = x.shape[1], self.hidden // self.heads
            h = self.norm1(x)
            q, k, v = (ops.reshape(layer(h), (-1, tokens, self.heads, d)) for layer in (self.query, self.key, self.value))
            a = ops.dot_product_attention(q, k, v, scale=d ** -0.5)
            x = x + self.out(ops.reshape(a, (-1, tokens, self.hidden))) * self.scale1
            h = self.fc2(ops.gelu(self.fc1(self.norm2(x)), approximate=False))
            return x + h * self.scale2

    class TokensToGrid(keras.layers.Layer):
        """(N, 1 + h·w, C) tokens → (N, h, w, C): the CLS token dropped."""

        def __init__(self, h: int, w: int, **kw):
            super().__init__(**kw)
            self.h, self.w = h, w

        def call(self, x):
            return ops.reshape(x[:, 1:], (-1, self.h, self.w, x.shape[-1]))

    class PatchUpsample(keras.layers.Layer):
        """A transposed convolution whose kernel equals its stride (no overlap): every input pixel
        becomes an f×f block, computed as one matrix product and a pixel shuffle."""

        def __init__(self, channels: int, factor: int, **kw):
            super().__init__(**kw)
            self.channels, self.factor = channels, factor

        def build(self, input_shape):
            f, c = self.factor, self.channels
            self.kernel = self.add_weight(shape=(input_shape[-1], f * f * c), name="kernel")
            self.bias = self.add_weight(shape=(f * f * c,), name="bias", initializer="zeros")

        def call(self, x):
            n_h, n_w, f, c = x.shape[1], x.shape[2], self.factor, self.channels
            y = ops.matmul(x, self.kernel) + self.bias
            y = ops.reshape(y, (-1, n_h, n_w, f, f, c))
            y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
            return ops.reshape(y, (-1, n_h * f, n_w * f, c))

    class Resize(keras.layers.Layer):
        """Bilinear resize with align_corners=True to a fixed size (see runner.resize_align_corners)."""

        def __init__(self, h: int, w: int, **kw):
            super().__init__(**kw)
            self.h, self.w = h, w

        def call(self, x):
            return resize_align_corners(x, self.h, self.w)

        def compute_output_shape(self, shape):
            return (shape[0], self.h, self.w, shape[3])

    class Normalize(keras.layers.Layer):
        """uint8-range pixels → (x/255 − mean) / std, in float32."""

        def __init__(self, mean, std, **kw):
            super().__init__(dtype="float32", **kw)
            self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

        def call(self, x):
            return (ops.cast(x, "float32") / 255.0 - self.mean) / self.std

    class DepthOut(keras.layers.Layer):
        """The head's last activation in float32: sigmoid × max_depth (metric) or ReLU (relative)."""

        def __init__(self, kind: str, max_depth: float, **kw):
            super().__init__(dtype="float32", **kw)
            self.kind, self.max_depth = kind, float(max_depth)

        def call(self, x):
            x = ops.cast(x[..., 0], "float32")
            return ops.sigmoid(x) * self.max_depth if self.kind == "metric" else ops.relu(x)

    return keras, dict(Embeddings=Embeddings, Block=Block, TokensToGrid=TokensToGrid, PatchUpsample=PatchUpsample,
                       Resize=Resize, Normalize=Normalize, DepthOut=DepthOut)


def build_model(arch: Architecture, input_size=(448, 448), precision: str = "float32"):
    """The Keras model (uint8-range pixels N×H×W×3 in, depth N×H×W out, random weights) and the map
    from every checkpoint tensor name to where it goes."""
    h, w = input_size
    if h % arch.patch or w % arch.patch or h < arch.patch or w < arch.patch:
        raise FgBgError(f"Depth Anything input size must be multiples of {arch.patch}, got {h}x{w}")
    policy = check_precision(precision)
    keras, L = _layer_classes()
    gh, gw = h // arch.patch, w // arch.patch
    targets: dict[str, _Target] = {}
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((h, w, 3), name="pixels")
        emb = L["Embeddings"](arch.hidden, arch.patch, gh * gw, name="embeddings")
        x = emb(L["Normalize"](arch.mean, arch.std, name="normalize")(inputs))
        pre = "backbone.embeddings."
        grid_tokens = (1, 1 + arch.grid * arch.grid, arch.hidden)
        targets.update({
            pre + "patch_embeddings.projection.weight": _Target((arch.hidden, 3, arch.patch, arch.patch), emb.kernel, _conv),
            pre + "patch_embeddings.projection.bias": _Target((arch.hidden,), emb.bias),
            pre + "cls_token": _Target((1, 1, arch.hidden), emb.cls_token),
            pre + "position_embeddings": _Target(grid_tokens, emb.position,
                                                 lambda t: resize_position_embeddings(t, arch.grid, gh, gw)),
            pre + "mask_token": _Target((1, arch.hidden))})
        final_norm = keras.layers.LayerNormalization(epsilon=arch.eps, name="backbone_norm")
        features = []
        for i in range(arch.layers):
            p = f"backbone.encoder.layer.{i}."
            if i >= max(arch.stages):  # blocks after the last stage used: checked, never run
                for name, shape in _block_shapes(arch).items():
                    targets[p + name] = _Target(shape)
                continue
            block = L["Block"](arch, name=f"block_{i}")
            x = block(x)
            targets.update(_block_targets(p, block, arch))
            if i + 1 in arch.stages:
                features.append(final_norm(x) if arch.apply_layernorm else x)
        targets["backbone.layernorm.weight"] = _Target((arch.hidden,), final_norm.gamma if arch.apply_layernorm else None)
        targets["backbone.layernorm.bias"] = _Target((arch.hidden,), final_norm.beta if arch.apply_layernorm else None)

        maps = []
        for i, (feature, channels, factor) in enumerate(zip(features, arch.neck, arch.factors)):
            p = f"neck.reassemble_stage.layers.{i}."
            y = L["TokensToGrid"](gh, gw, name=f"grid_{i}")(feature)
            proj = keras.layers.Dense(channels, name=f"reassemble_{i}_projection")
            y = proj(y)
            targets[p + "projection.weight"] = _Target((channels, arch.reassemble_hidden, 1, 1), proj.kernel, _pointwise)
            targets[p + "projection.bias"] = _Target((channels,), proj.bias)
            if factor > 1:
                f = int(factor)
                up = L["PatchUpsample"](channels, f, name=f"reassemble_{i}_resize")
                y = up(y)
                targets[p + "resize.weight"] = _Target(
                    (channels, channels, f, f), up.kernel,
                    lambda t, f=f, c=channels: t.transpose(0, 2, 3, 1).reshape(c, f * f * c))
                targets[p + "resize.bias"] = _Target((channels,), up.bias, lambda t, f=f: np.tile(t, f * f))
            elif factor < 1:
                y = keras.layers.ZeroPadding2D(1, name=f"reassemble_{i}_pad")(y)
                down = keras.layers.Conv2D(channels, 3, strides=int(round(1 / factor)), padding="valid",
                                           name=f"reassemble_{i}_resize")
                y = down(y)
                targets[p + "resize.weight"] = _Target((channels, channels, 3, 3), down.kernel, _conv)
                targets[p + "resize.bias"] = _Target((channels,), down.bias)
            conv = keras.layers.Conv2D(arch.fusion, 3, padding="same", use_bias=False, name=f"neck_conv_{i}")
            maps.append(conv(y))
            targets[f"neck.convs.{i}.weight"] = _Target((arch.fusion, channels, 3, 3), conv.kernel, _conv)

        fused = None
        deepest_first = maps[::-1]
        for j, feature in enumerate(deepest_first):
            p = f"neck.fusion_stage.layers.{j}."
            if j + 1 < len(deepest_first):
                size = deepest_first[j + 1].shape[1:3]
            else:
                size = (2 * feature.shape[1], 2 * feature.shape[2])
            if fused is None:
                y = feature
                for name, shape in _residual_shapes(arch.fusion).items():  # unused by the first block
                    targets[p + "residual_layer1." + name] = _Target(shape)
            else:
                if tuple(fused.shape[1:3]) != tuple(feature.shape[1:3]):
                    raise FgBgError(f"Depth Anything fusion sizes {fused.shape[1:3]} and {feature.shape[1:3]} differ "
                                    f"at input {h}x{w}; use an input size that is a multiple of {arch.patch}")
                y = keras.layers.Add(name=f"fusion_{j}_add")(
                    [fused, _residual_unit(keras, feature, arch.fusion, f"fusion_{j}_res1", p + "residual_layer1.", targets)])
            y = _residual_unit(keras, y, arch.fusion, f"fusion_{j}_res2", p + "residual_layer2.", targets)
            y = L["Resize"](int(size[0]), int(size[1]), name=f"fusion_{j}_resize")(y)
            proj = keras.layers.Dense(arch.fusion, name=f"fusion_{j}_projection")
            fused = proj(y)
            targets[p + "projection.weight"] = _Target((arch.fusion, arch.fusion, 1, 1), proj.kernel, _pointwise)
            targets[p + "projection.bias"] = _Target((arch.fusion,), proj.bias)

        half = arch.fusion // 2
        conv1 = keras.layers.Conv2D(half, 3, padding="same", name="head_conv1")
        conv2 = keras.layers.Conv2D(arch.head_hidden, 3, padding="same", activation="relu", name="head_conv2")
        conv3 = keras.layers.Conv2D(1, 1, name="head_conv3", dtype="float32")
        y = conv3(conv2(L["Resize"](h, w, name="head_resize")(conv1(fused))))
        out = L["DepthOut"](arch.kind, arch.max_depth, name="depth")(y)
        for name, conv, shape in (("conv1", conv1, (half, arch.fusion, 3, 3)),
                                  ("conv2", conv2, (arch.head_hidden, half, 3, 3)),
                                  ("conv3", conv3, (1, arch.head_hidden, 1, 1))):
            targets[f"head.{name}.weight"] = _Target(shape, conv.kernel, _conv)
            targets[f"head.{name}.bias"] = _Target((shape[0],), conv.bias)
    finally:
        keras.config.set_dtype_policy(previous)
    return keras.Model(inputs, out, name="depth_anything"), targets


def _block_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    c, m = arch.hidden, arch.mlp
    shapes = {"norm1.weight": (c,), "norm1.bias": (c,), "norm2.weight": (c,), "norm2.bias": (c,),
              "attention.output.dense.weight": (c, c), "attention.output.dense.bias": (c,),
              "layer_scale1.lambda1": (c,), "layer_scale2.lambda1": (c,),
              "mlp.fc1.weight": (m, c), "mlp.fc1.bias": (m,), "mlp.fc2.weight": (c, m), "mlp.fc2.bias": (c,)}
    for part in ("query", "key", "value"):
        shapes[f"attention.attention.{part}.weight"] = (c, c)
        if arch.qkv_bias:
            shapes[f"attention.attention.{part}.bias"] = (c,)
    return shapes


def _block_targets(prefix: str, block, arch: Architecture) -> dict[str, _Target]:
    shapes = _block_shapes(arch)
    layers = {"norm1": block.norm1, "norm2": block.norm2, "attention.output.dense": block.out,
              "mlp.fc1": block.fc1, "mlp.fc2": block.fc2, "attention.attention.query": block.query,
              "attention.attention.key": block.key, "attention.attention.value": block.value}
    out = {prefix + "layer_scale1.lambda1": _Target(shapes["layer_scale1.lambda1"], block.scale1),
           prefix + "layer_scale2.lambda1": _Target(shapes["layer_scale2.lambda1"], block.scale2)}
    for name, layer in layers.items():
        if name.startswith("norm"):
            out[prefix + name + ".weight"] = _Target(shapes[name + ".weight"], layer.gamma)
            out[prefix + name + ".bias"] = _Target(shapes[name + ".bias"], layer.beta)
            continue
        out[prefix + name + ".weight"] = _Target(shapes[name + ".weight"], layer.kernel, _linear)
        if name + ".bias" in shapes:
            out[prefix + name + ".bias"] = _Target(shapes[name + ".bias"], layer.bias)
    return out


def _residual_shapes(c: int) -> dict[str, tuple[int, ...]]:
    return {"convolution1.weight": (c, c, 3, 3), "convolution1.bias": (c,),
            "convolution2.weight": (c, c, 3, 3), "convolution2.bias": (c,)}


def _residual_unit(keras, x, channels: int, name: str, prefix: str, targets: dict):
    """x + conv2(relu(conv1(relu(x)))), both 3×3 with bias."""
    conv1 = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")
    conv2 = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")
    y = conv2(keras.layers.ReLU()(conv1(keras.layers.ReLU()(x))))
    for part, conv in (("convolution1", conv1), ("convolution2", conv2)):
        targets[f"{prefix}{part}.weight"] = _Target((channels, channels, 3, 3), conv.kernel, _conv)
        targets[f"{prefix}{part}.bias"] = _Target((channels,), conv.bias)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def load_checkpoint(targets: dict[str, _Target], weights, source: str) -> dict:
    """Copy every tensor of `weights` (a SafetensorsFile) where `targets` says, after checking that
    the file holds exactly the tensors the model has, each with its shape. Returns a small report."""
    found = weights.shapes
    missing = sorted(set(targets) - set(found))
    unexpected = sorted(set(found) - set(targets))
    wrong = [f"{k} {tuple(found[k])} (expected {targets[k].shape})" for k in sorted(targets)
             if k in found and tuple(found[k]) != targets[k].shape]
    if missing or unexpected or wrong:
        hint = ""
        if any(k.startswith("dpt.") or "readout" in k for k in found):
            hint = " It looks like a DPT checkpoint, not Depth Anything."
        elif found and not any(k.startswith(("neck.", "head.")) for k in found):
            hint = " It holds no depth head: a backbone-only (e.g. DINOv2) checkpoint?"
        raise CheckpointError(f"'{source}' does not fit the Depth Anything model its config.json describes "
                              f"({misfit(wrong, unexpected, missing, 'tensors')}).{hint}")
    for name, target in targets.items():
        if target.variable is None:
            continue
        value = weights.read(name)
        target.variable.assign((target.transform or np.asarray)(value).astype(np.float32))
    return {"tensors": len(found), "parameters": int(sum(int(np.prod(s)) for s in found.values()))}


# -- the backend ------------------------------------------------------------------------------------

class DepthAnything(KerasDepthModel):
    """`predict(uint8 N×H×W×3) -> float32 N×H×W`: metres for a metric checkpoint, inverse depth up to
    scale for a relative one (`describe()["units"]` says which)."""

    name = "depth-anything"
    display_name = "Depth Anything"

    def __init__(self, model: str = DEFAULT_MODEL, revision: str | None = None, precision: str = "float32",
                 input_size=(448, 448), batch_size: int | None = None):
        from .model_hub import fetch_model
        self.checkpoint = fetch_model(model, revision)
        self.arch = self.checkpoint.architecture()
        self.precision = precision
        self.input_size = self.output_size = tuple(int(v) for v in input_size)
        self.model, targets = build_model(self.arch, self.input_size, precision)
        self.load_report = load_checkpoint(targets, self.checkpoint.weights(), self.checkpoint.source)
        super().__init__(batch_size)

    @classmethod
    def with_random_weights(cls, arch: Architecture, precision: str = "float32", input_size=(448, 448),
                            batch_size: int | None = None) -> "DepthAnything":
        """The architecture alone, weights as Keras initialised them: for benchmarks, where the
        speed is that of the real checkpoint and the depth means nothing."""
        self = cls.__new__(cls)
        self.checkpoint, self.arch, self.precision = None, arch, precision
        self.input_size = self.output_size = tuple(int(v) for v in input_size)
        self.model, _ = build_model(arch, self.input_size, precision)
        self.load_report = None
        KerasDepthModel.__init__(self, batch_size)
        return self

    def preprocess(self, x_uint8):
        from keras import ops
        return ops.cast(x_uint8, "float32")  # the model's first layer normalises

    def to_metres(self, y):
        return y

    def describe(self) -> dict:
        if self.checkpoint is None:
            return {"backend": self.name, "weights": "random", "precision": self.precision,
                    "input_size": list(self.input_size), "max_m": self.arch.max_depth}
        return self.checkpoint.describe(self.precision, self.input_size)


def flops_per_image(arch: Architecture, input_size) -> int:
    """Multiply-adds × 2 of one forward pass: the transformer's matrix products (projections, MLP,
    attention scores and sums) and every convolution of the neck and head; resizes and norms, a few
    elementwise passes, are not counted."""
    h, w = input_size
    gh, gw = h // arch.patch, w // arch.patch
    t, c = 1 + gh * gw, arch.hidden
    total = 2 * gh * gw * arch.patch * arch.patch * 3 * c  # patch embedding
    per_block = 2 * t * c * c * 4 + 2 * 2 * t * t * c + 2 * 2 * t * c * arch.mlp  # q, k, v, out; QKᵀ, AV; MLP
    total += per_block * max(arch.stages)
    sizes = []
    for channels, factor in zip(arch.neck, arch.factors):
        total += 2 * gh * gw * c * channels  # 1×1 projection
        if factor > 1:
            total += 2 * gh * gw * channels * channels * int(factor) ** 2
        rh, rw = (int(gh * factor), int(gw * factor)) if factor >= 1 else ((gh + 1) // 2, (gw + 1) // 2)
        if factor < 1:
            total += 2 * rh * rw * 9 * channels * channels
        total += 2 * rh * rw * 9 * channels * arch.fusion  # neck conv
        sizes.append((rh, rw))
    f = arch.fusion
    for j, (rh, rw) in enumerate(sizes[::-1]):
        units = 1 if j == 0 else 2
        total += units * 2 * (2 * rh * rw * 9 * f * f)  # residual conv units, two 3×3 convs each
        nh, nw = sizes[::-1][j + 1] if j + 1 < len(sizes) else (2 * rh, 2 * rw)
        total += 2 * nh * nw * f * f  # projection after the resize
    oh, ow = 2 * sizes[0][0], 2 * sizes[0][1]
    total += 2 * oh * ow * 9 * f * (f // 2) + 2 * h * w * 9 * (f // 2) * arch.head_hidden + 2 * h * w * arch.head_hidden
    return int(total)
