"""`generate` with Hub datasets as inputs (hf://datasets/...), as a user runs it against the test Hub:
image files with sub-folders, a Parquet dataset with image and label columns, one with a separate
matte; the card names repository, commit and licence; the same command offline from the cache writes
the same bytes; every failure is one line."""

import io
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import run_cli
from hubserver import HubServer
from test_generate import shard_hashes
from test_hubdata import matte_rows, noise, parquet_bytes, places_file

LABELS = ["zebra", "ant", "cat"]


def cutout_png(seed: int, size=(30, 36)) -> bytes:
    """An RGBA cut-out: noise inside a soft ellipse."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    r = ((xx - w / 2 + 0.5) / (w / 2.2)) ** 2 + ((yy - h / 2 + 0.5) / (h / 2.2)) ** 2
    alpha = np.clip((1.0 - r) * 4 * 255, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([noise(seed, size), alpha])).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hub():
    server = HubServer({}).start()
    server.add_dataset("owner/objects", {"cows/a.png": cutout_png(1), "cows/b.png": cutout_png(2),
                                         "horses/c.png": cutout_png(3), "horses/d.png": cutout_png(4),
                                         "notes/readme.txt": b"pictures of farm animals\n"},
                       card="---\nlicense: cc-by-4.0\n---\n")
    server.add_dataset("owner/places", {"data/train-00000-of-00002.parquet": places_file(0, 60),
                                        "data/train-00001-of-00002.parquet": places_file(60, 60)},
                       card="---\nlicense: other\nlicense_name: places-noncommercial\n---\n")
    rows = matte_rows()
    server.add_dataset("owner/mattes", {"data/train.parquet": parquet_bytes(
        {k: [r[k] for r in rows] for k in rows[0]},
        {"image": {"_type": "Image"}, "alpha": {"_type": "Image"}, "caption": {"dtype": "string", "_type": "Value"},
         "kind": {"_type": "ClassLabel", "names": ["hair", "glass"]}}, 2)}, card="---\nlicense: mit\n---\n")
    server.add_dataset("owner/scripted", {"scripted.py": b"import datasets\n"}, card="---\nlicense: mit\n---\n")
    server.add_dataset("owner/secret", {"a.png": cutout_png(5)}, private=True)
    yield server
    server.stop()


def env_for(hub, home, offline=False) -> dict:
    return {"HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1" if offline else "0",
            "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_TOKEN": ""}


def generate(out, *args, env):
    return run_cli("generate", "--out", out, "--placements", "1", "--size", "40", "--depth", "none", "--quiet",
                   *args, env=env)


def card_meta(out) -> dict:
    return yaml.safe_load((out / "README.md").read_text().split("---")[1])


@pytest.mark.slow
def test_parquet_backgrounds_sampled_and_image_file_foregrounds_with_categories(hub, tmp_path):
    env = env_for(hub, tmp_path / "hf")
    out = tmp_path / "out"
    res = generate(out, "--backgrounds", "hf://datasets/owner/places/data", "--backgrounds-sample", "5",
                   "--foregrounds", "hf://datasets/owner/objects", env=env)
    assert res.returncode == 0, res.stderr
    meta = card_meta(out)
    sources = meta["input_sources"]
    assert sources["backgrounds"]["commit"] == hub.repos["owner/places"].branches["main"]
    assert sources["backgrounds"]["license"] == "places-noncommercial" and sources["backgrounds"]["count"] == 5
    assert sources["backgrounds"]["available"] == 120 and sources["backgrounds"]["path"] == "data"
    assert sources["foregrounds"]["license"] == "cc-by-4.0" and sources["foregrounds"]["kind"] == "files"
    card = (out / "README.md").read_text()
    assert "The backgrounds are 5 of the 120 images of `hf://datasets/owner/places/data`" in card
    assert "does not allow commercial use" in card  # the backgrounds' licence is a limitation of the dataset
    from datasets import load_dataset
    ds = load_dataset(str(out), split="train")
    assert ds.features["category"].names == ["cows", "horses"]
    assert all(ds.features["category"].int2str(r["category"]) == r["fg_name"].split("/")[0] for r in ds)
    recipe = json.loads((out / ".fgbg-depth" / "manifest.json").read_text())["recipe"]
    assert recipe["hub_inputs"]["backgrounds"]["sample"] == 5
    assert run_cli("verify", out).returncode == 0
    # the same command offline, from the cache, into another folder: the same bytes
    again = tmp_path / "again"
    res = generate(again, "--backgrounds", "hf://datasets/owner/places/data", "--backgrounds-sample", "5",
                   "--foregrounds", "hf://datasets/owner/objects", env=env_for(hub, tmp_path / "hf", offline=True))
    assert res.returncode == 0, res.stderr
    assert shard_hashes(again) == shard_hashes(out)
    # another seed draws another sample
    other = tmp_path / "other"
    assert generate(other, "--backgrounds", "hf://datasets/owner/places/data", "--backgrounds-sample", "5",
                    "--foregrounds", "hf://datasets/owner/objects", "--seed", "1", env=env).returncode == 0
    names = lambda o: [n for n, _ in json.loads((o / ".fgbg-depth/manifest.json").read_text())["recipe"]["backgrounds"]]  # noqa: E731
    assert names(other) != names(out)
    # rebuilt from its card and sources/ (no Hub needed): the same shards, and the Hub datasets still named
    rebuilt = tmp_path / "rebuilt"
    res = run_cli("rebuild", out, "--out", rebuilt, "--quiet", env=env_for(hub, tmp_path / "empty", offline=True))
    assert res.returncode == 0, res.stderr
    assert shard_hashes(rebuilt) == shard_hashes(out)
    assert card_meta(rebuilt)["input_sources"] == sources
    assert "The backgrounds are 5 of the 120 images of `hf://datasets/owner/places/data`" in (rebuilt / "README.md").read_text()
    assert json.loads((rebuilt / ".fgbg-depth/manifest.json").read_text())["recipe"] == recipe


def test_a_parquet_dataset_with_a_matte_and_a_classlabel_gives_rgba_foregrounds_by_class(hub, tmp_path):
    env = env_for(hub, tmp_path / "hf")
    out = tmp_path / "out"
    res = generate(out, "--foregrounds", "hf://datasets/owner/mattes", "--matte-column", "alpha", env=env)
    assert res.returncode == 0, res.stderr
    assert "skipped foregrounds/data/train/00000003" in res.stderr  # the row without a matte
    from datasets import load_dataset
    ds = load_dataset(str(out), split="train")
    assert ds.features["category"].names == ["hair", "glass"]  # the source's order: ids agree with it
    rows = matte_rows()
    for r in ds:
        row = int(r["fg_name"].rsplit("/", 1)[1].split(".")[0])
        assert r["category"] == rows[row]["kind"]
    assert card_meta(out)["input_sources"]["foregrounds"]["columns"]["matte"] == "alpha"


@pytest.mark.parametrize("args, needle", [
    (["--foregrounds", "hf://datasets/owner/nonesuch"], "not found"),
    (["--foregrounds", "hf://datasets/owner/objects@nobranch"], "nobranch"),
    (["--foregrounds", "hf://datasets/owner/objects/zebras"], "does not exist at commit"),
    (["--foregrounds", "hf://datasets/owner/objects/notes"], "or Parquet files under hf://datasets/owner/objects/notes"),
    (["--foregrounds", "hf://datasets/owner/mattes", "--matte-column", "depth"], "no column 'depth'"),
    (["--foregrounds", "hf://datasets/owner/mattes", "--matte-column", "caption"], "is not an image"),
    (["--foregrounds", "hf://datasets/owner/mattes", "--matte-column", "alpha", "--label-column", "caption"],
     "not a ClassLabel"),
    (["--foregrounds", "hf://datasets/owner/mattes"], "with --foreground-column"),
    (["--foregrounds", "hf://datasets/owner/scripted"], "loading script"),
    (["--foregrounds", "hf://datasets/owner/secret"], "hf auth login"),
    (["--foregrounds", "hf://models/owner/objects"], "hf://datasets/"),
    (["--foregrounds-sample", "3"], "takes a sample of a Hub dataset"),
])
def test_every_failure_is_one_line(hub, tmp_path, args, needle):
    res = generate(tmp_path / "out", *args, env=env_for(hub, tmp_path / "hf"))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not (tmp_path / "out").exists()


def test_offline_without_the_cache_is_one_line(hub, tmp_path):
    res = generate(tmp_path / "out", "--foregrounds", "hf://datasets/owner/objects",
                   env=env_for(hub, tmp_path / "empty", offline=True))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "hf download owner/objects --repo-type dataset" in res.stderr
