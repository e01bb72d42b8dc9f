"""Depth Anything V2 in Keras 3: the checkpoint loader, numerical equality with transformers, the
Hub download, `--depth auto`, and the backend through generate, verify, the engines and the builder.

The committed tiny checkpoints and transformers' outputs for them come from
tools/make_tiny_depth_anything.py; where transformers and torch are installed the comparison also
runs live on a fresh checkpoint.
"""

import importlib.util
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from conftest import ROOT, run_cli  # noqa: E402
from fgbg_depth.depth import get_backend  # noqa: E402
from fgbg_depth.depth.checkpoint import CheckpointError, parse_config  # noqa: E402
from fgbg_depth.depth.depth_anything import build_model, load_checkpoint, resize_position_embeddings  # noqa: E402
from fgbg_depth.depth.safetensors_file import SafetensorsError, SafetensorsFile, write_safetensors  # noqa: E402
from fgbg_depth.errors import FgBgError  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
from make_tiny_depth_anything import REFERENCE_STEP, SIZE, reference_image  # noqa: E402

DATA = ROOT / "tests" / "data" / "depth_anything"
METRIC, RELATIVE = DATA / "metric", DATA / "relative"
LIVE = importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("torch") is not None


def copy_checkpoint(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    (dst / "reference.npz").unlink(missing_ok=True)
    return dst


def rel_error(ours, ref) -> float:
    return float(np.abs(ours - ref).max() / (ref.max() - ref.min()))


@pytest.fixture(scope="module")
def metric_backend():
    return get_backend("depth-anything", model=str(METRIC), precision="float32", input_size=(SIZE, SIZE))


# -- the loader -------------------------------------------------------------------------------

@pytest.mark.slow
def test_every_tensor_lands_where_it_belongs():
    config = json.loads((METRIC / "config.json").read_text())
    arch = parse_config(config, "tiny")
    model, targets = build_model(arch, (SIZE, SIZE))
    weights = SafetensorsFile(METRIC / "model.safetensors")
    assert set(targets) == set(weights.shapes)  # each tensor has a place, each place a tensor
    report = load_checkpoint(targets, weights, "tiny")
    assert report["parameters"] == sum(int(np.prod(s)) for s in weights.shapes.values())
    checked_only = {name for name, t in targets.items() if t.variable is None}
    assert checked_only == {"backbone.embeddings.mask_token", "neck.fusion_stage.layers.0.residual_layer1.convolution1.weight",
                            "neck.fusion_stage.layers.0.residual_layer1.convolution1.bias",
                            "neck.fusion_stage.layers.0.residual_layer1.convolution2.weight",
                            "neck.fusion_stage.layers.0.residual_layer1.convolution2.bias"}
    variables = {id(t.variable) for t in targets.values() if t.variable is not None}
    assert len(variables) == len(targets) - len(checked_only)  # no variable filled twice
    assert variables == {id(v) for v in model.weights}  # and none left unfilled
    for name, target in targets.items():
        if target.variable is None:
            continue
        want = (target.transform or np.asarray)(weights.read(name))
        assert np.array_equal(target.variable.numpy(), want), name
    query = "backbone.encoder.layer.1.attention.attention.query.weight"  # a linear layer's (out, in) is transposed
    assert np.array_equal(targets[query].variable.numpy(), weights.read(query).T)


def test_position_embeddings_are_resized_only_when_the_grid_changes():
    table = np.random.default_rng(0).normal(size=(1, 1 + 37 * 37, 4)).astype(np.float32)
    assert np.array_equal(resize_position_embeddings(table, 37, 37, 37), table)
    out = resize_position_embeddings(table, 37, 32, 26)
    assert out.shape == (1, 1 + 32 * 26, 4) and np.array_equal(out[:, 0], table[:, 0])


@pytest.mark.parametrize("kind", ["metric", "relative"])
@pytest.mark.slow
def test_predict_matches_transformers_reference(kind):
    backend = get_backend("depth-anything", model=str(DATA / kind), precision="float32", input_size=(SIZE, SIZE))
    ref = np.load(DATA / kind / "reference.npz")["depth"]
    out = backend.predict(reference_image())
    assert out.shape == (1, SIZE, SIZE) and out.dtype == np.float32
    assert rel_error(out[:, ::REFERENCE_STEP, ::REFERENCE_STEP], ref) < 1e-4
    info = backend.describe()
    assert info["depth_type"] == kind and info["input_size"] == [SIZE, SIZE]
    assert info["units"] == ("metres" if kind == "metric" else "relative inverse depth (no unit)")


@pytest.mark.skipif(not LIVE, reason="transformers and torch are not installed: the committed outputs are compared")
@pytest.mark.parametrize("kind,size", [("metric", 448), ("relative", 448), ("metric", 518), ("metric", 364)])
@pytest.mark.slow
def test_predict_matches_transformers_live(tmp_path, kind, size):
    from make_tiny_depth_anything import make_checkpoint, transformers_depth
    model = make_checkpoint(tmp_path / "ckpt", kind, seed=11 + size)
    images = np.concatenate([reference_image(3, size), reference_image(4, size)])
    want = transformers_depth(model, images)
    ours = get_backend("depth-anything", model=str(tmp_path / "ckpt"), input_size=(size, size), batch_size=2)
    assert rel_error(ours.predict(images), want) < 1e-4


@pytest.mark.slow
def test_bfloat16_is_close(metric_backend):
    low = get_backend("depth-anything", model=str(METRIC), precision="bfloat16", input_size=(SIZE, SIZE))
    ref = metric_backend.predict(reference_image())
    assert rel_error(low.predict(reference_image()), ref) < 0.05


@pytest.mark.slow
def test_units_on_the_device_equal_units_from_metres(metric_backend):
    from fgbg_depth.contract import depth_quantum_for, depth_scale_for, quantize_depth
    from fgbg_depth.stages.depthmap import resize_depth
    scale = depth_scale_for(20.0)
    quantum = depth_quantum_for(scale)
    assert quantum == 32
    images = np.concatenate([reference_image(5), reference_image(6)])
    units = metric_backend.predict_units(images, 64, scale, quantum)
    metres = metric_backend.predict(images)
    cpu = np.stack([quantize_depth(resize_depth(m, 64), scale, quantum) for m in metres])
    assert units.dtype == np.uint16 and units.shape == (2, 64, 64)
    assert np.abs(units.astype(int) - cpu).max() <= quantum  # the same triangle filter, rounding apart


# -- bad checkpoints: one line each, saying what was found --------------------------------------

def with_config(tmp_path, **changes):
    folder = copy_checkpoint(METRIC, tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def with_tensors(tmp_path, edit):
    folder = copy_checkpoint(METRIC, tmp_path / "ckpt")
    weights = SafetensorsFile(folder / "model.safetensors")
    tensors = {name: weights.read(name) for name in weights.shapes}
    edit(tensors)
    write_safetensors(folder / "model.safetensors", tensors)
    return folder


def load_error(folder) -> str:
    with pytest.raises(FgBgError) as err:
        get_backend("depth-anything", model=str(folder), input_size=(SIZE, SIZE))
    assert "\n" not in str(err.value)
    return str(err.value)


def test_a_dinov2_checkpoint_is_refused(tmp_path):
    folder = with_config(tmp_path, model_type="dinov2")
    assert "DINOv2 backbone without a depth head" in load_error(folder)


def test_backbone_tensors_alone_are_refused(tmp_path):
    def backbone_only(t):
        for name in [n for n in t if not n.startswith("backbone.")]:
            del t[name]
    msg = load_error(with_tensors(tmp_path, backbone_only))
    assert "tensors not in the file" in msg and "holds no depth head" in msg


def test_a_dpt_checkpoint_is_refused(tmp_path):
    assert "DPT model" in load_error(with_config(tmp_path, model_type="dpt"))

    def dpt_layout(t):  # a DPT-hybrid-like layout under a depth_anything config
        for name in list(t):
            t["dpt." + name] = t.pop(name)
    assert "DPT checkpoint" in load_error(with_tensors(tmp_path / "b", dpt_layout))


@pytest.mark.slow
def test_a_truncated_file_is_refused(tmp_path):
    folder = copy_checkpoint(METRIC, tmp_path / "ckpt")
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    msg = load_error(folder)
    assert "truncated" in msg and "model.safetensors" in msg
    path.write_bytes(b"\x10\x00")
    assert "too short" in load_error(folder)
    path.write_bytes(struct.pack("<Q", 6) + b"{oops}")
    assert "not JSON" in load_error(folder)


@pytest.mark.slow
def test_a_misshaped_missing_or_extra_tensor_is_named(tmp_path):
    def misshape(t):
        t["head.conv2.weight"] = t["head.conv2.weight"][:, :4]
    msg = load_error(with_tensors(tmp_path / "a", misshape))
    assert "1 shape mismatches: head.conv2.weight (8, 4, 3, 3) (expected (8, 8, 3, 3))" in msg

    def drop(t):
        del t["neck.convs.2.weight"]
    assert "1 tensors not in the file: neck.convs.2.weight" in load_error(with_tensors(tmp_path / "b", drop))

    def extra(t):
        t["head.conv4.weight"] = np.zeros((1, 1), np.float32)
    assert "1 tensors the model lacks: head.conv4.weight" in load_error(with_tensors(tmp_path / "c", extra))


def test_a_folder_without_a_checkpoint_is_refused(tmp_path):
    assert "no config.json" in load_error(tmp_path)
    folder = copy_checkpoint(METRIC, tmp_path / "ckpt")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    assert "no model.safetensors (found: pytorch_model.bin)" in load_error(folder)


def test_safetensors_reader_reads_bfloat16_and_float16(tmp_path):
    values = np.array([1.5, -2.25, 3.0e-3], np.float32)
    path = tmp_path / "w.safetensors"
    bf16 = (values.view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"a": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
                         "b": {"dtype": "F16", "shape": [3], "data_offsets": [6, 12]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bf16.tobytes() + values.astype("<f2").tobytes())
    f = SafetensorsFile(path)
    assert f.read("a").dtype == np.float32 and np.allclose(f.read("a"), values, rtol=1e-2)
    assert np.allclose(f.read("b"), values, rtol=1e-3)
    with pytest.raises(SafetensorsError):
        SafetensorsFile(tmp_path / "missing.safetensors")


def test_unsupported_configs_say_what(tmp_path):
    bb = json.loads((METRIC / "config.json").read_text())["backbone_config"]
    for change, needle in (({"use_swiglu_ffn": True}, "SwiGLU"), ({"hidden_act": "relu"}, "activation relu"),
                           ({"reshape_hidden_states": True}, "reshaped backbone outputs")):
        with pytest.raises(CheckpointError, match=needle):
            parse_config({"model_type": "depth_anything", "backbone_config": {**bb, **change}}, "x")
    with pytest.raises(FgBgError, match="multiples of 14"):
        build_model(parse_config(json.loads((METRIC / "config.json").read_text()), "x"), (448, 450))


# -- through generate ---------------------------------------------------------------------------

def generate_cli(out, *extra, env=None):
    return run_cli("generate", "--out", out, "--placements", "1", "--size", "48", "--quiet", *extra, env=env)


@pytest.mark.slow
def test_generate_writes_metric_depth_in_the_models_range(tmp_path):
    out = tmp_path / "out"
    res = generate_cli(out, "--depth", "depth-anything", "--depth-model", METRIC, "--workers", "2")
    assert res.returncode == 0, res.stderr
    assert run_cli("verify", out).returncode == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["depth_scale"] == 20.0 / 65535
    report = json.loads((out / ".fgbg-depth" / "report.json").read_text())
    assert report["depth_quantum_m"] == pytest.approx(32 * 20.0 / 65535)
    from fgbg_depth import read_card_metadata
    meta = read_card_metadata((out / "README.md").read_text())
    assert meta["depth_source"]["backend"] == "depth-anything" and meta["depth_source"]["max_m"] == 20.0
    assert meta["depth_source"]["license"] == "apache-2.0"
    depth_mean = stats["channel_stats"]["train"]["depth"]["mean"][0]
    assert 1.0 < depth_mean < 20.0  # metres, from the model (the tiny random one predicts 1-19 m)
    same = tmp_path / "same"
    assert generate_cli(same, "--depth", "depth-anything", "--depth-model", METRIC, "--workers", "1").returncode == 0
    from test_generate import shard_hashes
    assert shard_hashes(same) == shard_hashes(out)  # workers 1 (in process) and 2 (pool-fed) agree


def test_generate_refuses_a_relative_checkpoint(tmp_path):
    res = generate_cli(tmp_path / "out", "--depth", "depth-anything", "--depth-model", RELATIVE)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert "relative-depth checkpoint" in line and "Metric-Indoor-Small-hf" in line and "Metric-Outdoor-Small-hf" in line
    assert not (tmp_path / "out").exists()


def test_depth_input_size_must_suit_the_model(tmp_path):
    res = generate_cli(tmp_path / "out", "--depth", "depth-anything", "--depth-model", METRIC,
                       "--depth-input-size", "320")
    assert res.returncode == 2 and "multiple of 14" in res.stderr


def test_python_api_matches_the_contract(metric_backend):
    images = np.concatenate([reference_image(1, SIZE)] * 3)
    out = metric_backend.predict(images)
    assert metric_backend.input_size == (SIZE, SIZE) and out.shape == (3, SIZE, SIZE) and out.dtype == np.float32
    assert 0 < out.min() and out.max() < 20.0  # sigmoid × max_depth


@pytest.mark.slow
def test_builder_depth_anything_matches_the_cli(tmp_path):
    from builder_script import FgBgDepth
    builder = FgBgDepth(config_name="depth-anything", depth_model=str(METRIC), placements=1, size=48,
                        cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    ds = builder.as_dataset()
    out = tmp_path / "cli"
    assert generate_cli(out, "--depth", "depth-anything", "--depth-model", METRIC, "--workers", "1").returncode == 0
    import pyarrow.parquet as pq
    cli_rows = pq.read_table(out / "data" / "train-00000-of-00001.parquet").to_pylist()
    ds_rows = ds["train"].cast_column("depth", __import__("datasets").Image(decode=False))
    assert [r["depth"]["bytes"] for r in ds_rows] == [r["depth"]["bytes"] for r in cli_rows]
    assert json.loads(builder.info.description)["depth_scale"] == 20.0 / 65535


# -- from the Hub (tests/hubserver.py), and --depth auto ------------------------------------------

DEFAULT = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"


@pytest.fixture(scope="module")
def model_hub():
    from hubserver import HubServer
    server = HubServer({"hf_testREADtoken0123456789abcdef": ("user", "read")}).start()
    files = {p.name: p.read_bytes() for p in METRIC.iterdir() if p.name != "reference.npz"}
    server.add_model("owner/tiny-metric", files)
    server.add_model(DEFAULT, files)  # the tiny weights under the default model's name
    relative = {p.name: p.read_bytes() for p in RELATIVE.iterdir() if p.name != "reference.npz"}
    server.add_model("owner/tiny-relative", relative)
    yield server
    server.stop()


def hub_env(server, home, offline=False, **more):
    env = {"HF_ENDPOINT": server.url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1" if offline else "0",
           "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_TOKEN": ""}
    env.update(more)
    return env


def model_downloads(server, name="model.safetensors"):
    return [e for e in server.log if e["method"] == "GET" and e["path"].endswith("/" + name) and e["status"] == 200]


@pytest.mark.slow
def test_generate_downloads_the_model_then_runs_offline(model_hub, tmp_path):
    home = tmp_path / "hf"
    out = tmp_path / "out"
    res = generate_cli(out, "--depth", "depth-anything", "--depth-model", "owner/tiny-metric", "--workers", "2",
                       env=hub_env(model_hub, home))
    assert res.returncode == 0, res.stderr
    assert len(model_downloads(model_hub)) == 1
    sha = model_hub.models["owner/tiny-metric"].branches["main"]
    assert run_cli("verify", out).returncode == 0
    from fgbg_depth import read_card_metadata
    card = (out / "README.md").read_text()
    source = read_card_metadata(card)["depth_source"]
    assert source["model"] == "owner/tiny-metric" and source["revision"] == sha and source["license"] == "apache-2.0"
    assert f"--depth-model owner/tiny-metric --depth-revision {sha}" in card and "licence apache-2.0" in card
    loaded = run_cli("preview", out, "--out", tmp_path / "p.png")
    assert loaded.returncode == 0
    code = ("import sys, json; from datasets import load_dataset; ds = load_dataset(sys.argv[1]); "
            "print(json.dumps({s: len(ds[s]) for s in ds}))")
    import subprocess
    got = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True,
                         env={**__import__("os").environ, "HF_HOME": str(tmp_path / "hf-load")})
    assert got.returncode == 0, got.stderr[-2000:]
    assert json.loads(got.stdout.strip().splitlines()[-1]) == {"train": 90, "test": 38}

    # the same model from the cache, offline: byte-identical, nothing downloaded
    again = tmp_path / "again"
    before = len(model_hub.log)
    res = generate_cli(again, "--depth", "depth-anything", "--depth-model", "owner/tiny-metric", "--workers", "2",
                       env=hub_env(model_hub, home, offline=True))
    assert res.returncode == 0, res.stderr
    assert len(model_hub.log) == before
    from test_generate import shard_hashes
    assert shard_hashes(again) == shard_hashes(out)


def one_line_error(res) -> str:
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("fgbg-depth: error:")
    return lines[-1]


@pytest.mark.slow
def test_a_model_that_cannot_be_had_is_one_line(model_hub, tmp_path):
    offline = generate_cli(tmp_path / "a", "--depth", "depth-anything", "--depth-model", "owner/tiny-metric",
                           env=hub_env(model_hub, tmp_path / "empty", offline=True))
    line = one_line_error(offline)
    assert "'owner/tiny-metric' is not in the local Hugging Face cache" in line and "HF_HUB_OFFLINE" in line
    assert "hf download owner/tiny-metric" in line
    missing = generate_cli(tmp_path / "b", "--depth", "depth-anything", "--depth-model", "owner/nothing",
                           env=hub_env(model_hub, tmp_path / "hf"))
    assert "'owner/nothing' not found on the Hub" in one_line_error(missing)
    revision = generate_cli(tmp_path / "c", "--depth", "depth-anything", "--depth-model", "owner/tiny-metric",
                            "--depth-revision", "v9", env=hub_env(model_hub, tmp_path / "hf"))
    assert "has no revision 'v9'" in one_line_error(revision)
    relative = generate_cli(tmp_path / "d", "--depth", "depth-anything", "--depth-model", "owner/tiny-relative",
                            env=hub_env(model_hub, tmp_path / "hf"))
    assert "relative-depth checkpoint" in one_line_error(relative)
    for folder in "abcd":
        assert not (tmp_path / folder).exists()


@pytest.mark.slow
def test_auto_uses_a_cached_model_and_never_downloads(model_hub, tmp_path):
    home = tmp_path / "hf"
    # nothing cached: auto takes the planar prior, says why, and asks the Hub for nothing
    before = len(model_hub.log)
    res = generate_cli(tmp_path / "planar", "--depth", "auto", env=hub_env(model_hub, home))
    assert res.returncode == 0, res.stderr
    assert len(model_hub.log) == before
    assert "Depth Anything is not in the Hugging Face cache" in res.stderr and "planar" in res.stderr
    # a configured model that is not cached: still nothing downloaded
    res = generate_cli(tmp_path / "configured", "--depth", "auto", env=hub_env(model_hub, home,
                                                                               FGBG_DEPTH_MODEL="owner/tiny-metric"))
    assert res.returncode == 0 and len(model_hub.log) == before
    assert "'owner/tiny-metric' is not in the Hugging Face cache" in res.stderr
    # the default model fetched once by --depth depth-anything; from then on auto uses it, offline
    assert generate_cli(tmp_path / "fetch", "--depth", "depth-anything", env=hub_env(model_hub, home)).returncode == 0
    before = len(model_hub.log)
    res = generate_cli(tmp_path / "auto", "--depth", "auto", env=hub_env(model_hub, home))
    assert res.returncode == 0, res.stderr
    assert len(model_hub.log) == before
    assert f"--depth auto: Depth Anything '{DEFAULT}' (in the Hugging Face cache)" in res.stderr
    report = json.loads((tmp_path / "auto" / ".fgbg-depth" / "report.json").read_text())
    assert report["depth"]["backend"] == "depth-anything" and report["depth"]["model"] == DEFAULT


BUILDER_KEY = ("import sys; sys.path.insert(0, sys.argv[1]); from builder_script import FgBgDepth; "
               "print(FgBgDepth(config_name='depth-anything', depth_model=sys.argv[2], placements=1, "
               "cache_dir=sys.argv[3]).config_id)")


def builder_key(model, cache, env) -> str:
    import os
    import subprocess
    res = subprocess.run([sys.executable, "-c", BUILDER_KEY, str(ROOT), str(model), str(cache)], capture_output=True,
                         text=True, env={**os.environ, **env}, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_the_builders_cache_key_follows_the_models_commit(model_hub, tmp_path):
    """A branch that moves on, or a model folder whose files change, is a new cache entry; offline,
    the cached commit gives the same key as before."""
    home, cache = tmp_path / "hf", tmp_path / "cache"
    files = {p.name: p.read_bytes() for p in METRIC.iterdir() if p.name != "reference.npz"}
    model_hub.add_model("owner/moving", files)
    first = builder_key("owner/moving", cache, hub_env(model_hub, home))
    assert builder_key("owner/moving", cache, hub_env(model_hub, home)) == first
    assert builder_key("owner/moving", cache, hub_env(model_hub, home, offline=True)) == first
    model_hub.add_model("owner/moving", {**files, "README.md": b"---\nlicense: mit\n---\nnew weights\n"})
    moved = builder_key("owner/moving", cache, hub_env(model_hub, home))
    assert moved != first
    assert builder_key("owner/moving", cache, hub_env(model_hub, home, offline=True)) == moved
    folder = copy_checkpoint(METRIC, tmp_path / "folder")
    before = builder_key(folder, cache, {})
    (folder / "config.json").write_text((folder / "config.json").read_text() + "\n")
    assert builder_key(folder, cache, {}) != before
