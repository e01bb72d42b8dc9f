import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import run_cli
from fgbg_depth import load_stats, read_card_metadata
from fgbg_depth.assets import default_foregrounds, open_foreground
from fgbg_depth.compose import reduce_foreground
from fgbg_depth.resample import resize_bands

COLUMNS = ["fg_bg", "bg", "mask", "depth", "sample_id", "bg_id", "fg_id", "bg_name", "fg_name", "flipped",
           "placement", "x", "y", "w", "h", "scale"]


def shard_hashes(out):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").glob("*.parquet"))}


def test_load_dataset_columns_and_types(sample_out):
    from datasets import Image as HFImage, Value, load_dataset
    ds = load_dataset(str(sample_out))
    assert set(ds) == {"train", "test"}
    assert ds["train"].column_names == COLUMNS
    for name in ("fg_bg", "bg", "mask", "depth"):
        assert isinstance(ds["train"].features[name], HFImage)
    assert ds["train"].features["sample_id"] == Value("int64")
    assert ds["train"].features["placement"] == Value("int16")
    assert ds["train"].features["scale"] == Value("float32")
    assert len(ds["train"]) + len(ds["test"]) == 8 * 8 * 2 * 2
    row = ds["train"][0]
    assert row["fg_bg"].mode == "RGB" and row["bg"].mode == "RGB" and row["fg_bg"].size == (64, 64)
    assert row["mask"].mode == "L"
    assert np.asarray(row["depth"]).dtype == np.uint16

    streamed = load_dataset(str(sample_out), streaming=True)
    first = next(iter(streamed["test"]))
    assert list(first) == COLUMNS
    assert first["sample_id"] == ds["test"][0]["sample_id"]
    assert np.array_equal(np.asarray(first["fg_bg"]), np.asarray(ds["test"][0]["fg_bg"]))


def test_masks_are_binary_and_match_pasted_alpha(sample_out):
    fgs = sorted(os.listdir(default_foregrounds()))
    table = pq.read_table(sample_out / "data" / "train-00000-of-00002.parquet")
    for row in table.slice(0, 40).to_pylist():
        mask = np.asarray(Image.open(io.BytesIO(row["mask"]["bytes"])))
        assert set(np.unique(mask)) <= {0, 255}
        cut = open_foreground(os.path.join(default_foregrounds(), fgs[row["fg_id"]]))
        assert row["fg_name"] == fgs[row["fg_id"]]
        alpha = np.asarray(reduce_foreground(cut, 64, bool(row["flipped"])).getchannel("A"))[..., None]
        expected = np.zeros_like(mask)
        x, y, w, h = row["x"], row["y"], row["w"], row["h"]
        expected[y:y + h, x:x + w] = np.where(resize_bands(alpha, w, h)[..., 0] > 0, 255, 0)
        assert np.array_equal(mask, expected)
        assert row["scale"] == pytest.approx(w * h / 64 ** 2, rel=1e-6)
        depth = np.asarray(Image.open(io.BytesIO(row["depth"]["bytes"])))
        assert depth.dtype == np.uint16 and depth.min() > 0


def test_stats_agree_with_decoded_data(sample_out):
    from datasets import load_dataset
    saved = json.loads((sample_out / "stats.json").read_text())
    scale = saved["depth_scale"]
    assert scale == pytest.approx(10 / 65535)
    ds = load_dataset(str(sample_out))
    for split in ("train", "test"):
        cols = {name: [] for name in ("fg_bg", "bg", "mask", "depth")}
        for row in ds[split]:
            cols["fg_bg"].append(np.asarray(row["fg_bg"], np.float64).reshape(-1, 3) / 255)
            cols["bg"].append(np.asarray(row["bg"], np.float64).reshape(-1, 3) / 255)
            cols["mask"].append(np.asarray(row["mask"], np.float64).reshape(-1, 1) / 255)
            d = np.asarray(row["depth"], np.float64).reshape(-1, 1)
            cols["depth"].append(d[d[:, 0] > 0] * scale)
        for name, parts in cols.items():
            values = np.concatenate(parts)
            got = saved["channel_stats"][split][name]
            np.testing.assert_allclose(got["mean"], values.mean(0), atol=1e-4)
            np.testing.assert_allclose(got["std"], values.std(0), atol=1e-4)


def test_card_yaml_parses_back(sample_out):
    meta = read_card_metadata((sample_out / "README.md").read_text())
    stats = json.loads((sample_out / "stats.json").read_text())
    assert meta["channel_stats"] == stats["channel_stats"] == load_stats(str(sample_out))
    assert meta["depth_scale"] == stats["depth_scale"]
    assert meta["license"] == "cc0-1.0"
    assert "depth-estimation" in meta["task_categories"] and meta["size_categories"] == ["n<1K"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert configs["default"]["data_files"] == [{"split": "train", "path": "data/train-*"},
                                                {"split": "test", "path": "data/test-*"}]
    assert {d["split"] for d in configs["sources"]["data_files"]} == {"backgrounds", "foregrounds"}
    info = {i["config_name"]: i for i in meta["dataset_info"]}["default"]
    assert [f["name"] for f in info["features"]] == COLUMNS
    for split in info["splits"]:
        files = sorted((sample_out / "data").glob(f"{split['name']}-*.parquet"))
        assert split["num_examples"] == sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        assert split["num_bytes"] > 0
    assert info["download_size"] == sum(f.stat().st_size for f in (sample_out / "data").glob("*.parquet"))
    text = (sample_out / "README.md").read_text()
    assert "--placements 2 --size 64 --depth planar" in text and "planar ground-plane prior" in text


def test_sources_config_holds_the_inputs(sample_out):
    from datasets import load_dataset
    src = load_dataset(str(sample_out), "sources")
    assert len(src["backgrounds"]) == 8 and len(src["foregrounds"]) == 8
    names = sorted(os.listdir(default_foregrounds()))
    assert src["foregrounds"]["name"] == names
    raw = pq.read_table(sample_out / "sources" / "foregrounds-00000-of-00001.parquet").column("image")[0]
    assert raw["bytes"].as_py() == open(os.path.join(default_foregrounds(), names[0]), "rb").read()


def test_shards_are_well_formed(sample_out):
    for path in (sample_out / "data").glob("*.parquet"):
        pf = pq.ParquetFile(path)
        meta = pf.schema_arrow.metadata[b"huggingface"]
        assert json.loads(meta)["info"]["features"]["depth"] == {"_type": "Image"}
        col = pf.metadata.row_group(0).column(pf.schema_arrow.names.index("bg"))
        # bg is dictionary-encoded: its bytes are stored once per distinct background
        bg_chunk = next(pf.metadata.row_group(0).column(i) for i in range(pf.metadata.num_columns)
                        if pf.metadata.row_group(0).column(i).path_in_schema == "bg.bytes")
        assert bg_chunk.has_dictionary_page
        assert col is not None
    assert not list((sample_out / ".fgbg-depth").glob("tmp/*"))


@pytest.mark.slow
def test_worker_count_does_not_change_bytes(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        res = run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "3",
                      "--size", "48", "--shard-rows", "10", "--workers", workers, "--seed", "4", "--quiet")
        assert res.returncode == 0, res.stderr
        outs.append(out)
    assert len(shard_hashes(outs[0])) > 2
    assert shard_hashes(outs[0]) == shard_hashes(outs[1])
    for name in ("README.md", "stats.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()


def test_rerun_skips_finished_and_resumes_missing(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    args = ["generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "4",
            "--size", "48", "--shard-rows", "8", "--workers", "1", "--quiet"]
    assert run_cli(*args).returncode == 0
    clean = shard_hashes(out)
    # simulate a run killed mid-way: one shard never renamed, one left as a stray temporary
    victim = sorted((out / "data").glob("train-*"))[1]
    victim.unlink()
    (out / ".fgbg-depth" / "tmp").mkdir(exist_ok=True)
    (out / ".fgbg-depth" / "tmp" / (victim.name + ".dead.tmp")).write_bytes(b"half a shard")
    (out / ".fgbg-depth" / "shards" / ".train-00001.json.deadbeef.tmp").write_text("{")  # a marker cut short
    (out / ".README.md.deadbeef.tmp").write_text("---")  # a card cut short
    before = {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")}
    time.sleep(0.01)
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert shard_hashes(out) == clean
    after = {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")}
    assert all(after[name] == mtime for name, mtime in before.items())  # finished shards untouched
    assert not (out / ".fgbg-depth" / "tmp").exists() and not list(out.rglob("*.tmp"))
    report = json.loads((out / ".fgbg-depth" / "report.json").read_text())
    assert report["resumed"] and report["shards_already_done"] == len(clean) - 1


@pytest.mark.slow
def test_killed_run_resumes_to_identical_output(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    common = ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "20", "--size", "64",
              "--shard-rows", "20", "--workers", "1", "--quiet"]
    ref = tmp_path / "ref"
    assert run_cli("generate", "--out", ref, *common).returncode == 0
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fgbg_depth", "generate", "--out", str(out), *map(str, common)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "data").glob("*.parquet"))) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list((out / "data").glob("*.parquet"))) < len(shard_hashes(ref))
    res = run_cli("generate", "--out", out, *common)
    assert res.returncode == 0, res.stderr
    assert shard_hashes(out) == shard_hashes(ref)
    assert (out / "README.md").read_bytes() == (ref / "README.md").read_bytes()


def test_other_arguments_into_same_folder_refused(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    base = ["generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1",
            "--size", "32", "--quiet"]
    assert run_cli(*base).returncode == 0
    before = shard_hashes(out)
    res = run_cli(*base, "--seed", "9")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "other arguments" in res.stderr and "seed" in res.stderr
    assert "Traceback" not in res.stderr
    assert shard_hashes(out) == before


def test_split_by_background_keeps_backgrounds_apart(tmp_path, small_inputs):
    from datasets import load_dataset
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    res = run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "2",
                  "--size", "32", "--split-by", "background", "--test-fraction", "0.34", "--quiet")
    assert res.returncode == 0, res.stderr
    ds = load_dataset(str(out))
    assert set(ds["train"]["bg_id"]).isdisjoint(ds["test"]["bg_id"])
    assert len(set(ds["test"]["bg_id"])) == 1


def test_depth_none_has_no_depth_column(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    res = run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1",
                  "--size", "32", "--depth", "none", "--quiet")
    assert res.returncode == 0, res.stderr
    table = pq.read_table(next((out / "data").glob("train-*")))
    assert "depth" not in table.column_names
    meta = read_card_metadata((out / "README.md").read_text())
    assert "depth_scale" not in meta and "depth" not in meta["channel_stats"]["train"]


def test_auto_depth_says_planar_on_stderr(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    res = run_cli("generate", "--out", tmp_path / "o", "--backgrounds", bgs, "--foregrounds", fgs,
                  "--placements", "1", "--size", "32", "--quiet", env={"FGBG_DEPTH_WEIGHTS": ""})
    assert res.returncode == 0
    assert "planar ground-plane prior" in res.stderr


@pytest.mark.slow
def test_regenerated_folder_is_not_served_from_the_datasets_cache(tmp_path, small_inputs, monkeypatch):
    """`datasets` keys its cache of a local folder on the card's dataset_info plus the data files' paths
    and mtimes. Force the worst case — same times (coarse file system, or copies that keep times) and the
    same sizes in the card — and the card's content digest must still change the key."""
    import re
    import shutil

    from datasets import load_dataset
    from datasets.load import dataset_module_factory
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    runs = []
    for seed in (1, 2):
        shutil.rmtree(out, ignore_errors=True)
        res = run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "2",
                      "--size", "32", "--seed", seed, "--quiet")
        assert res.returncode == 0, res.stderr
        for p in (out / "data").glob("*.parquet"):
            os.utime(p, (1_700_000_000, 1_700_000_000))
        card = (out / "README.md").read_text()  # the same sizes in both runs' cards
        card = re.sub(r"num_bytes: \d+", "num_bytes: 1", card)
        (out / "README.md").write_text(re.sub(r"(download|dataset)_size: \d+", r"\1_size: 1", card))
        train = load_dataset(str(out), split="train")
        runs.append((dataset_module_factory(str(out)).hash, [(r["x"], r["y"]) for r in train.select(range(3))]))
    assert runs[0][0] != runs[1][0]
    assert runs[0][1] != runs[1][1]  # the second load sees the second run's placements


def test_first_run_killed_before_its_manifest_can_be_run_again(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    (out / ".fgbg-depth").mkdir(parents=True)
    (out / ".fgbg-depth" / ".manifest.json.deadbeef.tmp").write_text("{")
    res = run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1",
                  "--size", "32", "--quiet")
    assert res.returncode == 0, res.stderr
    assert not list(out.rglob("*.tmp"))
