"""DenseDepth in Keras 3: architecture, Keras-2 weight loading, forward pass against NumPy."""


from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")

from keras2_h5 import HALF_WIDTH, model_layers, write_keras2_h5  # noqa: E402

from fgbg_depth.depth import get_backend  # noqa: E402
from fgbg_depth.depth.densedepth import (  # noqa: E402
    N_PARAMS, WeightFileError, build_model, interp_matrix, load_keras2_weights)

SIZE = (64, 64)


@pytest.fixture(scope="module")
def model():
    return build_model(SIZE)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("w") / "nyu.h5"
    written = write_keras2_h5(path, model_layers(model, np.random.default_rng(0)), chunks=3)
    return path, written


@pytest.mark.slow
def test_architecture_matches_the_released_model(model):
    assert model.count_params() == N_PARAMS
    assert model.get_layer("conv2").kernel.shape == (1, 1, 1664, 1664)
    assert model.get_layer("up1_convA").kernel.shape == (3, 3, 1664 + 256, 832)
    assert model.get_layer("up4_convB").kernel.shape == (3, 3, 104, 104)
    assert model.output.shape[1:] == (32, 32, 1)
    leaky = [layer for layer in model.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert len(leaky) == 4  # one per up block, after convB


def test_every_weight_lands_where_it_belongs(model, weights_file):
    path, written = weights_file
    report = load_keras2_weights(model, path)
    assert report["parameters"] == N_PARAMS
    renamed = {"conv1_conv": "conv1/conv", "conv1_bn": "conv1/bn"}
    n_checked = 0
    for layer in model.layers:
        for v in layer.weights:
            k2 = renamed.get(layer.name, layer.name)
            expected = written[k2][f"{k2}/{v.name}:0"]
            np.testing.assert_array_equal(v.numpy(), expected)
            n_checked += 1
    assert n_checked == len(model.weights)


def test_truncated_file_is_a_clear_error(tmp_path, model, weights_file):
    path, _ = weights_file
    cut = tmp_path / "cut.h5"
    with open(path, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(path.stat().st_size // 2))
    with pytest.raises(WeightFileError, match="truncated|damaged"):
        load_keras2_weights(model, cut)


def test_not_hdf5_and_missing_file(tmp_path, model):
    junk = tmp_path / "junk.h5"
    junk.write_text("<html>403 Forbidden</html>")
    with pytest.raises(WeightFileError, match="cannot read .* as HDF5"):
        load_keras2_weights(model, junk)
    with pytest.raises(WeightFileError, match="not found"):
        load_keras2_weights(model, tmp_path / "absent.h5")


def test_half_width_variant_is_named(tmp_path, model):
    path = tmp_path / "half.h5"
    write_keras2_h5(path, model_layers(model, np.random.default_rng(1), shapes=HALF_WIDTH))
    with pytest.raises(WeightFileError, match="half-width") as err:
        load_keras2_weights(model, path)
    assert "conv2/kernel (1, 1, 1664, 832)" in str(err.value)


def test_wrong_model_and_missing_layers(tmp_path, model):
    other = tmp_path / "other.h5"
    rng = np.random.default_rng(2)
    write_keras2_h5(other, [("dense_1", [("dense_1/kernel:0", rng.standard_normal((4, 3)).astype("f4")),
                                          ("dense_1/bias:0", np.zeros(3, "f4"))])])
    with pytest.raises(WeightFileError, match="layers the model lacks: dense_1.*layers not in the file"):
        load_keras2_weights(model, other)
    partial = tmp_path / "partial.h5"
    layers = [item for item in model_layers(model, rng) if item[0] != "up2_convB"]
    write_keras2_h5(partial, layers)
    with pytest.raises(WeightFileError, match="1 layers not in the file: up2_convB"):
        load_keras2_weights(model, partial)


def test_file_without_keras_layout(tmp_path, model):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(WeightFileError, match="not a Keras save"):
        load_keras2_weights(model, path)


def upsample_reference(x):
    """2× bilinear, align_corners=True, written pixel by pixel from the definition."""
    n, h, w, c = x.shape
    out = np.zeros((n, 2 * h, 2 * w, c))
    for i in range(2 * h):
        sy = i * (h - 1) / (2 * h - 1)
        y0 = min(int(np.floor(sy)), h - 2)
        fy = sy - y0
        for j in range(2 * w):
            sx = j * (w - 1) / (2 * w - 1)
            x0 = min(int(np.floor(sx)), w - 2)
            fx = sx - x0
            out[:, i, j] = ((1 - fy) * (1 - fx) * x[:, y0, x0] + (1 - fy) * fx * x[:, y0, x0 + 1]
                            + fy * (1 - fx) * x[:, y0 + 1, x0] + fy * fx * x[:, y0 + 1, x0 + 1])
    return out


def test_upsampling_matches_reference_and_tensorflow(model):
    x = np.random.default_rng(3).standard_normal((2, 5, 7, 3)).astype(np.float32)
    layer = model.get_layer("up1_upsampling2d")
    got = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(got, upsample_reference(x), atol=1e-5)
    assert np.allclose(interp_matrix(4, 8).sum(1), 1.0)
    from fgbg_depth.depth.densedepth import _upsample_layer_class
    as_matmul = keras.ops.convert_to_numpy(_upsample_layer_class("matmul")()(x))
    np.testing.assert_allclose(as_matmul, got, atol=1e-5)
    tf = pytest.importorskip("tensorflow")
    ref = tf.compat.v1.image.resize_bilinear(x, (10, 14), align_corners=True).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


def conv_same(x, kernel, bias):
    kh, kw = kernel.shape[:2]
    pad = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for dy in range(kh):
        for dx in range(kw):
            out += np.einsum("nhwc,co->nhwo", pad[:, dy:dy + x.shape[1], dx:dx + x.shape[2]], kernel[dy, dx])
    return out + bias


@pytest.mark.slow
def test_forward_pass_matches_numpy_decoder(weights_file):
    path, written = weights_file
    backend = get_backend("densedepth", weights=str(path), input_size=SIZE, batch_size=3)
    images = np.random.default_rng(4).integers(0, 256, (5, *SIZE, 3), dtype=np.uint8)  # 5 = a padded batch
    got = backend.predict(images)
    assert got.shape == (5, 32, 32) and got.dtype == np.float32

    names = ["relu", "pool3_pool", "pool2_pool", "pool1", "conv1_relu"]
    m = backend.model
    features = keras.Model(m.input, [m.get_layer(n).output for n in names])(images.astype("float32") / 255)
    feats = [keras.ops.convert_to_numpy(f).astype(np.float64) for f in features]

    def w(layer):
        d = written[layer]
        return d[f"{layer}/kernel:0"].astype(np.float64), d[f"{layer}/bias:0"].astype(np.float64)

    x = conv_same(feats[0], *w("conv2"))
    for i, skip in enumerate(feats[1:], start=1):
        x = np.concatenate([upsample_reference(x), skip], axis=-1)
        x = conv_same(x, *w(f"up{i}_convA"))
        x = conv_same(x, *w(f"up{i}_convB"))
        x = np.where(x > 0, x, 0.2 * x)
    p = conv_same(x, *w("conv3"))[..., 0]
    metres = np.clip(1000.0 / p, 10, 1000) / 100
    assert 0.1 < metres.mean() < 10  # the test weights keep p in the unclipped range
    np.testing.assert_allclose(got, metres, rtol=2e-3, atol=2e-3)


@pytest.mark.slow
def test_bfloat16_keeps_float32_output(weights_file):
    path, _ = weights_file
    fp32 = get_backend("densedepth", weights=str(path), input_size=SIZE, batch_size=2)
    bf16 = get_backend("densedepth", weights=str(path), input_size=SIZE, batch_size=2, precision="bfloat16")
    assert bf16.model.get_layer("conv3").compute_dtype == "float32"
    assert bf16.model.get_layer("up1_convA").compute_dtype == "bfloat16"
    images = np.random.default_rng(5).integers(0, 256, (2, *SIZE, 3), dtype=np.uint8)
    a, b = fp32.predict(images), bf16.predict(images)
    assert b.dtype == np.float32 and np.isfinite(b).all()
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


@pytest.mark.slow
def test_generate_with_densedepth(tmp_path, weights_file, small_inputs):
    """The whole CLI path with a DenseDepth backend (64×64 model input to keep the CPU test short)."""
    from fgbg_depth.generate import GenerateOptions, generate
    path, _ = weights_file
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    summary = generate(GenerateOptions(out=str(out), backgrounds=str(bgs), foregrounds=str(fgs), placements=1,
                                       size=48, depth="densedepth", depth_weights=str(path), progress=False,
                                       depth_input_size=SIZE[0]))
    assert summary["depth"]["backend"] == "densedepth" and summary["depth"]["weights_sha256"]
    card = (out / "README.md").read_text()
    assert summary["depth"]["weights_sha256"] in card
    from datasets import load_dataset
    ds = load_dataset(str(out), split="train")
    d = np.asarray(ds[0]["depth"])
    assert d.dtype == np.uint16 and d.shape == (48, 48) and d.min() > 0


@pytest.mark.parametrize("n_in,n_out", [(224, 160), (32, 48), (224, 64), (7, 3)])
def test_resize_taps_match_pillow_bilinear(n_in, n_out):
    from PIL import Image

    from fgbg_depth.depth.runner import resize_taps
    x = np.random.default_rng(n_in).random((n_in, n_in)).astype(np.float32)
    index, weight = resize_taps(n_in, n_out)
    rows = (x[index] * weight[..., None]).sum(1)
    got = (rows[:, index] * weight[None]).sum(2)
    ref = np.asarray(Image.fromarray(x).resize((n_out, n_out), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.slow
def test_units_made_on_the_device_match_numpy_postprocessing(weights_file):
    """Resize and rounding inside the compiled function give what the NumPy/Pillow path gives."""
    from fgbg_depth.contract import DEPTH_QUANTUM, DEPTH_SCALE, quantize_depth
    from fgbg_depth.stages.depthmap import resize_depth
    path, _ = weights_file
    backend = get_backend("densedepth", weights=str(path), input_size=SIZE, batch_size=3)
    images = np.random.default_rng(6).integers(0, 256, (5, *SIZE, 3), dtype=np.uint8)
    metres = backend.predict(images)
    for out_size in (48, 32, 80):
        got = backend.predict_units(images, out_size, DEPTH_SCALE, DEPTH_QUANTUM)
        ref = np.stack([quantize_depth(resize_depth(m, out_size), DEPTH_SCALE) for m in metres])
        assert got.dtype == np.uint16 and got.shape == (5, out_size, out_size)
        assert got.min() >= DEPTH_QUANTUM and not (got % DEPTH_QUANTUM).any()
        diff = np.abs(got.astype(np.int64) - ref)
        assert diff.max() <= DEPTH_QUANTUM and (diff == 0).mean() > 0.99  # only ties at a step's edge differ
    handle = backend.dispatch_units(images[:2], 48, DEPTH_SCALE, DEPTH_QUANTUM)  # a padded batch
    np.testing.assert_array_equal(backend.fetch(handle),
                                  backend.predict_units(images[:2], 48, DEPTH_SCALE, DEPTH_QUANTUM))
    with pytest.raises(ValueError, match="1 to 3"):
        backend.dispatch_units(images[:4], 48, DEPTH_SCALE, DEPTH_QUANTUM)


@pytest.mark.slow
def test_pool_fed_model_writes_the_same_bytes_as_one_process(tmp_path, weights_file, small_inputs):
    """With a model, `--workers 2` composites in processes that feed the model in the parent through
    shared memory; the shards, stats and card equal those of a single-process run."""
    from fgbg_depth.generate import GenerateOptions, generate
    path, _ = weights_file
    bgs, fgs = small_inputs
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        generate(GenerateOptions(out=str(out), backgrounds=str(bgs), foregrounds=str(fgs), placements=2, size=40,
                                 depth="densedepth", depth_weights=str(path), depth_input_size=SIZE[0],
                                 shard_rows=10, workers=workers, progress=False))
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file() and ".fgbg-depth" not in p.parts)
    assert len([f for f in files if f.suffix == ".parquet"]) >= 3
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    assert not list((outs[1] / ".fgbg-depth").rglob("fgbg-depth-slots-*"))


def test_slot_files_of_killed_runs_are_swept(tmp_path):
    from fgbg_depth.engines.local import SLOT_PREFIX, SlotRing
    dead = tmp_path / f"{SLOT_PREFIX}999999999-x"
    dead.write_bytes(b"x")
    ring = SlotRing(2, (3, 4), tmp_path, shm=str(tmp_path / "no-shm"))  # no /dev/shm: the spill folder
    try:
        ring.array[1] = 7
        assert Path(ring.path).exists() and not dead.exists()
        assert SlotRing.attach(*ring.spec())[1].sum() == 7 * 12
    finally:
        ring.close()
    assert not Path(ring.path).exists()


@pytest.mark.slow
def test_out_of_device_memory_is_one_clear_line_and_the_batch_can_be_set(tmp_path, weights_file, small_inputs,
                                                                          monkeypatch):
    from fgbg_depth.depth.runner import default_batch_size
    from fgbg_depth.errors import FgBgError
    from fgbg_depth.generate import GenerateOptions, generate
    monkeypatch.setenv("FGBG_DEPTH_BATCH", "3")
    assert default_batch_size() == 3
    path, _ = weights_file
    backend = get_backend("densedepth", weights=str(path), input_size=SIZE)
    assert backend.batch_size == 3

    def exhausted(post=None):
        def run(x):
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9.1GiB.")
        return run

    monkeypatch.setattr(backend, "_compiled", exhausted)
    with pytest.raises(FgBgError, match="out of device memory at batch size 3.*FGBG_DEPTH_BATCH"):
        backend.predict(np.zeros((2, *SIZE, 3), np.uint8))
    monkeypatch.setenv("FGBG_DEPTH_BATCH", "many")
    with pytest.raises(FgBgError, match="positive whole number"):
        default_batch_size()
    # the pool-fed engine stops with that line and leaves no shared-memory slots behind
    monkeypatch.setenv("FGBG_DEPTH_BATCH", "3")
    import fgbg_depth.depth
    monkeypatch.setattr(fgbg_depth.depth, "get_backend", lambda *a, **k: backend)
    bgs, fgs = small_inputs
    with pytest.raises(FgBgError, match="out of device memory"):
        generate(GenerateOptions(out=str(tmp_path / "out"), backgrounds=str(bgs), foregrounds=str(fgs), placements=1,
                                 size=40, depth="densedepth", depth_weights=str(path), depth_input_size=SIZE[0],
                                 workers=2, progress=False))
    import os
    for folder in (Path("/dev/shm"), tmp_path / "out" / ".fgbg-depth" / "tmp"):
        assert not list(folder.glob(f"fgbg-depth-slots-{os.getpid()}-*"))
