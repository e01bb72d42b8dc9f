"""Object categories (ImageFolder's folder rule → a `category` ClassLabel) and `fgbg-depth rebuild` of a
published dataset from its own card and `sources`, pushed to and read back from the test Hub."""

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from conftest import ROOT, run_cli
from hubserver import HubServer
from test_generate import shard_hashes
from test_hub import WRITE, hub_env

SAMPLES = ROOT / "fgbg_depth" / "samples" / "foregrounds"
CLASSES = {"round": ["ball.png", "plant.png", "lamp.png"], "square": ["box.png", "chair.png"], "animal": ["dog.png"]}


@pytest.fixture(scope="module")
def classed(tmp_path_factory):
    """Foregrounds in three class folders, and a dataset of three-object scenes made from them."""
    root = tmp_path_factory.mktemp("classes")
    fgs = root / "fgs"
    for name, files in CLASSES.items():
        (fgs / name).mkdir(parents=True)
        for f in files:
            shutil.copy(SAMPLES / f, fgs / name / f)
    out = root / "out"
    res = run_cli("generate", "--out", out, "--foregrounds", fgs, "--placements", "2", "--size", "48",
                  "--depth", "planar", "--objects", "3", "--shard-rows", "80", "--quiet")
    assert res.returncode == 0, res.stderr
    return fgs, out


def rows(out, split="train"):
    return [r for f in sorted((Path(out) / "data").glob(f"{split}-*.parquet"))
            for r in pq.read_table(f, columns=["fg_name", "category", "objects"]).to_pylist()]


def test_categories_are_a_classlabel_by_folder_everywhere(classed):
    from datasets import load_dataset
    _, out = classed
    names = sorted(CLASSES)  # ImageFolder's rule: sorted folder names
    ds = load_dataset(str(out), split="train")
    assert ds.features["category"].names == names
    assert ds.features["objects"].feature["category"].names == names
    row = ds[0]
    assert ds.features["category"].int2str(row["category"]) == row["fg_name"].split("/")[0]
    for r in rows(out) + rows(out, "test"):
        assert names[r["category"]] == r["fg_name"].split("/")[0]
        assert all(names[o["category"]] == o["fg_name"].split("/")[0] for o in r["objects"])
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    feature = next(f for f in meta["dataset_info"][0]["features"] if f["name"] == "category")
    assert feature["dtype"]["class_label"]["names"] == {str(i): n for i, n in enumerate(names)}
    assert "| round | 3 |" in card and "| square | 2 |" in card and "| animal | 1 |" in card
    assert "ClassLabel (3 classes)" in card
    verified = run_cli("verify", out)
    assert verified.returncode == 0, verified.stdout
    report = out / "report.html"
    assert run_cli("report", out, "--out", report).returncode == 0
    assert '<section id="categories">' in report.read_text() and "<td>square</td>" in report.read_text()
    sheet = out / "sheet.png"
    assert run_cli("preview", out, "--n", "3", "--out", sheet).returncode == 0
    assert Image.open(sheet).size[0] > 0


def test_verify_catches_a_wrong_category(classed, tmp_path):
    import pyarrow as pa
    _, out = classed
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    shard = sorted((copy / "data").glob("train-*.parquet"))[0]
    table = pq.read_table(shard)
    wrong = pa.array([(c + 1) % 3 for c in table.column("category").to_pylist()], pa.int64())
    bad = table.set_column(table.schema.get_field_index("category"), table.schema.field("category"), wrong)
    pq.write_table(bad, shard)
    res = run_cli("verify", copy)
    assert res.returncode == 1 and "category" in res.stdout and "its foreground's is" in res.stdout


def test_without_categories_nothing_changes(tmp_path):
    """A flat folder (or one class folder only) has no categories: no column, and the recipe has no key."""
    flat = tmp_path / "one" / "only"
    flat.mkdir(parents=True)
    for f in ("ball.png", "box.png"):
        shutil.copy(SAMPLES / f, flat / f)
    out = tmp_path / "out"
    assert run_cli("generate", "--out", out, "--foregrounds", tmp_path / "one", "--placements", "1",
                   "--size", "32", "--depth", "none", "--quiet").returncode == 0
    assert "category" not in pq.read_schema(next((out / "data").glob("*.parquet"))).names
    assert "categories" not in json.loads((out / ".fgbg-depth" / "manifest.json").read_text())["recipe"]


@pytest.fixture(scope="module")
def hub():
    server = HubServer({WRITE: ("user", "write")}).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_push_then_rebuild_from_the_hub_gives_the_same_shards(classed, hub, tmp_path):
    _, out = classed
    env = hub_env(hub, tmp_path)
    assert run_cli("push", out, "user/classes", env=env).returncode == 0
    again = tmp_path / "again"
    res = run_cli("rebuild", "user/classes", "--out", again, "--quiet", env=env)
    assert res.returncode == 0, res.stderr
    assert "all 3 data shards equal the published ones byte for byte" in res.stdout
    assert shard_hashes(again) == shard_hashes(out)
    assert run_cli("verify", again).returncode == 0
    card = yaml.safe_load((again / "README.md").read_text().split("---")[1])
    assert card["dataset_info"][0]["features"] == yaml.safe_load((out / "README.md").read_text().split("---")[1])[
        "dataset_info"][0]["features"]  # the same classes, in the same order


def test_a_dataset_that_cannot_be_had_is_one_line(hub, tmp_path):
    env = hub_env(hub, tmp_path)
    res = run_cli("rebuild", "user/nothing-here", "--out", tmp_path / "o", env=env)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "dataset 'user/nothing-here' not found on the Hub" in res.stderr.strip().splitlines()[-1]
    res = run_cli("rebuild", "user/nothing-here", "--out", tmp_path / "o", env={**env, "HF_HUB_OFFLINE": "1"})
    line = res.stderr.strip().splitlines()[-1]
    assert res.returncode != 0 and "not in the local Hugging Face cache" in line and "hf download" in line
    assert not (tmp_path / "o").exists()


def _edit_card(folder: Path, change) -> None:
    text = (folder / "README.md").read_text()
    _, head, body = text.split("---", 2)
    meta = yaml.safe_load(head)
    change(meta)
    (folder / "README.md").write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---" + body)


@pytest.mark.slow
def test_a_changed_library_version_is_named_not_hidden(classed, tmp_path):
    _, out = classed
    published = tmp_path / "published"
    shutil.copytree(out, published)
    _edit_card(published, lambda m: m["fgbg_depth"]["versions"].update(pillow="9.0.0"))
    res = run_cli("rebuild", published, "--out", tmp_path / "again", "--quiet")
    assert "note: pillow 9.0.0 in the card" in res.stderr
    assert res.returncode == 0 and "all 3 data shards equal" in res.stdout  # named, and the bytes still checked
    _edit_card(published, lambda m: m["fgbg_depth"]["shards"].update({"train-00000-of-00002.parquet": "0" * 64}))
    res = run_cli("rebuild", published, "--out", tmp_path / "third", "--quiet")
    assert res.returncode == 1 and "2 of 3 data shards equal" in res.stdout and "differ: train-00000-of-00002" in res.stdout


@pytest.mark.parametrize("change, needle", [
    (lambda m: m.pop("fgbg_depth"), "has no recipe"),
    (lambda m: m["fgbg_depth"]["recipe"].update(format_version=99), "shard format 99"),
    (lambda m: m["fgbg_depth"]["recipe"].pop("compose_version"), "compositing version 1; this fgbg-depth has 2"),
    (lambda m: m["fgbg_depth"]["recipe"].update(depth="nonesuch-plugin"), "plug-in 'nonesuch-plugin', which is not"),
    (lambda m: m["fgbg_depth"]["recipe"].update(depth="depth-anything",
                                                depth_model={"model": "owner/gone", "revision": "0" * 40}),
     "depth model 'owner/gone'"),
])
def test_what_cannot_be_reproduced_is_one_line_before_any_work(classed, tmp_path, change, needle):
    _, out = classed
    published = tmp_path / "published"
    shutil.copytree(out, published)
    _edit_card(published, change)
    res = run_cli("rebuild", published, "--out", tmp_path / "again", "--quiet", env={"HF_HUB_OFFLINE": "1"})
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert needle in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "again").exists()  # nothing written


def test_sources_that_do_not_match_the_recipe_are_refused(classed, tmp_path):
    _, out = classed
    published = tmp_path / "published"
    shutil.copytree(out, published)
    _edit_card(published, lambda m: m["fgbg_depth"]["recipe"]["foregrounds"][0].__setitem__(1, "0" * 64))
    res = run_cli("rebuild", published, "--out", tmp_path / "again", "--quiet")
    assert res.returncode == 2 and "not the ones the card's recipe names" in res.stderr
    digest = hashlib.sha256((published / "README.md").read_bytes()).hexdigest()
    assert digest  # the published folder itself is left as it was (only read)
