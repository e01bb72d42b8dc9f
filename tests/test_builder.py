"""builder_script.FgBgDepth: the same rows as the CLI, streaming, splits and stats."""

import hashlib
import json
import sys

import numpy as np
import pytest

from conftest import ROOT, run_cli

sys.path.insert(0, str(ROOT))
from builder_script import FgBgDepth  # noqa: E402

ARGS = dict(placements=2, seed=7, size=48, shard_rows=60)


def row_hash(row):
    h = hashlib.sha256()
    for key in sorted(row):
        value = row[key]
        h.update(key.encode())
        h.update(value["bytes"] if isinstance(value, dict) else repr(value).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def cli_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "out"
    res = run_cli("generate", "--out", out, "--placements", "2", "--seed", "7", "--size", "48", "--shard-rows", "60",
                  "--depth", "planar", "--quiet")
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    builder = FgBgDepth(cache_dir=str(tmp_path_factory.mktemp("cache")), depth="planar", **ARGS)
    builder.download_and_prepare()
    return builder


def test_builder_rows_equal_cli_rows(prepared, cli_out):
    from datasets import Image, load_dataset
    ds = prepared.as_dataset()
    cli = load_dataset(str(cli_out))
    assert set(ds) == set(cli) == {"train", "test"}
    for split in ds:
        a = ds[split].cast_column("fg_bg", Image(decode=False))
        b = cli[split].cast_column("fg_bg", Image(decode=False))
        for col in ("bg", "mask", "depth"):
            a = a.cast_column(col, Image(decode=False))
            b = b.cast_column(col, Image(decode=False))
        assert len(a) == len(b) > 0
        assert [row_hash(r) for r in a] == [row_hash(r) for r in b]


def test_split_sizes_and_stats_agree(prepared, cli_out):
    saved = json.loads((cli_out / "stats.json").read_text())
    info = prepared.info
    sizes = {name: split.num_examples for name, split in info.splits.items()}
    assert sizes == {"train": 179, "test": 77}
    assert prepared.channel_stats == saved["channel_stats"]
    assert json.loads(info.description)["channel_stats"] == saved["channel_stats"]


@pytest.mark.slow
def test_streaming_builder_yields_same_first_rows(prepared):
    builder = FgBgDepth(depth="planar", **ARGS)
    stream = builder.as_streaming_dataset(split="train")
    first = [row for _, row in zip(range(5), stream)]
    ds = prepared.as_dataset(split="train")
    for i, row in enumerate(first):
        assert row["sample_id"] == ds[i]["sample_id"]
        assert np.array_equal(np.asarray(row["fg_bg"]), np.asarray(ds[i]["fg_bg"]))
        assert np.array_equal(np.asarray(row["depth"]), np.asarray(ds[i]["depth"]))


def test_configs_and_kwargs():
    assert set(FgBgDepth.builder_configs) == {"default", "depth-anything", "densedepth"}
    b = FgBgDepth(placements=2, seed=7, depth="planar")
    assert (b.config.placements, b.config.seed, b.config.depth) == (2, 7, "planar")
    other = FgBgDepth(placements=2, seed=8, depth="planar")
    assert b.config_id != other.config_id


def test_a_new_blend_version_changes_the_cache_key(monkeypatch):
    """A cached motion dataset made by an earlier version of the blend is not answered for the new one."""
    from fgbg_depth import blend
    before = {b: FgBgDepth(placements=1, blend=b).config_id for b in ("motion", "mixed", "gaussian")}
    monkeypatch.setitem(blend.BLEND_VERSION, "motion", blend.BLEND_VERSION["motion"] + 1)
    after = {b: FgBgDepth(placements=1, blend=b).config_id for b in ("motion", "mixed", "gaussian")}
    assert after["motion"] != before["motion"] and after["mixed"] != before["mixed"]
    assert after["gaussian"] == before["gaussian"]


def test_new_inputs_at_same_path_change_cache_key(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    first = FgBgDepth(backgrounds=str(bgs), foregrounds=str(fgs), placements=1).config_id
    (bgs / "bg0.png").write_bytes((bgs / "bg1.png").read_bytes() + b"\0")
    assert FgBgDepth(backgrounds=str(bgs), foregrounds=str(fgs), placements=1).config_id != first
