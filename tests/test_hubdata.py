"""Hub datasets as inputs (fgbg_depth/hubdata.py), against the test Hub on 127.0.0.1.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when it is imported, so every scenario
runs `fetch_inputs` in a child process (RUNNER) with its own environment; a child runs a list of calls
and, before each, asks the test Hub for /fgbg-test-mark/<i>, so the Hub's log tells which requests
each call made.
"""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fgbg_depth.errors import FgBgError
from fgbg_depth.hubdata import HubAddress, parse_address
from hubserver import HubServer

READER = "hf_testREADERtoken0123456789abcdef"
LABELS = ["zebra", "ant", "cat"]  # deliberately not sorted: the source's order is the ClassLabel's
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

RUNNER = r"""
import hashlib, json, sys, traceback, urllib.request
from pathlib import Path
from huggingface_hub import constants
from fgbg_depth.errors import FgBgError
from fgbg_depth.hubdata import fetch_inputs
import pyarrow.parquet as pq

_read_row_group = pq.ParquetFile.read_row_group
def read_row_group(self, *args, use_threads=True, **kwargs):
    # Arrow's pool threads reading through a Python file can abort the interpreter at exit
    assert not use_threads, "a row group read with Arrow's threads"
    return _read_row_group(self, *args, use_threads=use_threads, **kwargs)
pq.ParquetFile.read_row_group = read_row_group
_init = pq.ParquetFile.__init__
def init(self, source, *args, pre_buffer=True, **kwargs):
    # pre-buffering a Python file reads it on Arrow's IO threads: a read freed there at exit aborts
    assert isinstance(source, (str, Path)) or not pre_buffer, "a Python file pre-buffered by Arrow's IO threads"
    _init(self, source, *args, pre_buffer=pre_buffer, **kwargs)
pq.ParquetFile.__init__ = init

out = []
for i, call in enumerate(json.loads(sys.stdin.read())):
    try:
        urllib.request.urlopen(f"{constants.ENDPOINT}/fgbg-test-mark/{i}", timeout=5)
    except Exception:
        pass  # the mark is answered 404, or no Hub is there
    try:
        got = fetch_inputs(**call)
    except FgBgError as exc:
        out.append({"error": str(exc)})
        continue
    except BaseException:
        out.append({"crash": traceback.format_exc()})
        continue
    out.append({"files": [[n, hashlib.sha256(Path(p).read_bytes()).hexdigest(), str(p)] for n, p in got.files],
                "categories": got.categories, "category_names": got.category_names, "provenance": got.provenance})
print(json.dumps(out))
"""


# -- the datasets ----------------------------------------------------------------------------------

def encode(array, fmt="PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(seed, size=(24, 20)) -> np.ndarray:
    """An RGB picture of `size` (width, height) that compresses badly, so files have a real size."""
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def parquet_bytes(columns: dict, features: dict, row_group_size: int) -> bytes:
    types = {name: IMAGE_TYPE if features.get(name, {}).get("_type") == "Image" else None for name in columns}
    table = pa.table({name: pa.array(values, type=types[name]) for name, values in columns.items()})
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_size)
    return buffer.getvalue()


def places_file(first: int, rows: int) -> bytes:
    """Rows first..first+rows-1: a noise PNG each (~28 kB), label = row % 3; 4 rows per row group."""
    images = [{"bytes": encode(noise(i, (96, 96))), "path": None} for i in range(first, first + rows)]
    return parquet_bytes({"image": images, "label": [i % 3 for i in range(first, first + rows)]},
                         {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": LABELS}}, 4)


def matte_rows() -> list[dict]:
    rows = []
    for i in range(4):
        rgb = noise(100 + i, (40, 32))
        grey = (np.arange(40 * 32).reshape(32, 40) * (i + 3) % 256).astype(np.uint8)
        matte = grey if i != 1 else grey[::2, ::2].copy()  # row 1: a matte of half the size
        rows.append({"image": {"bytes": encode(rgb, "JPEG", quality=90), "path": None},
                     "alpha": None if i == 3 else {"bytes": encode(matte), "path": None},  # row 3: no matte
                     "caption": f"object {i}", "kind": i % 2})
    return rows


@pytest.fixture(scope="module")
def hub():
    server = HubServer({READER: ("reader", "read")}).start()
    pets = {"cats/a.png": encode(noise(1)), "cats/b.jpg": encode(noise(2), "JPEG"), "dogs/c.png": encode(noise(3)),
            "dogs/d.JPEG": encode(noise(4), "JPEG"), "dogs/e.webp": encode(noise(5), "WEBP"),
            ".hidden/x.png": encode(noise(6)), "cats/.thumbs/t.png": encode(noise(7)), "notes.txt": b"not a picture\n"}
    server.shas = {"pets": server.add_dataset("owner/pets", pets, card="---\nlicense: cc-by-4.0\n---\n# Pets\n")}
    server.shas["pets-v2"] = server.add_dataset("owner/pets", {"dogs/f.png": encode(noise(8))}, branch="v2")
    server.shas["pets-pr"] = server.add_dataset("owner/pets", {"cats/g.png": encode(noise(9))}, branch="refs/pr/1")
    server.pets = pets
    server.places = {"data/train-00000-of-00002.parquet": places_file(0, 60),
                     "data/train-00001-of-00002.parquet": places_file(60, 60)}
    server.shas["places"] = server.add_dataset(
        "owner/places", server.places, card="---\nlicense: other\nlicense_name: places-noncommercial\n---\n")
    rows = matte_rows()
    server.matte_rows = rows
    server.add_dataset("owner/mattes", {"data/train.parquet": parquet_bytes(
        {k: [r[k] for r in rows] for k in rows[0]},
        {"image": {"_type": "Image"}, "alpha": {"_type": "Image"}, "caption": {"dtype": "string", "_type": "Value"},
         "kind": {"_type": "ClassLabel", "names": ["hair", "glass"]}}, 2)},
        card="---\nlicense: [mit, cc-by-4.0]\n---\n")
    plain = pa.table({"image": pa.array([{"bytes": encode(noise(i)), "path": None} for i in range(3)], IMAGE_TYPE),
                      "label": [1, 0, 1]})  # no `huggingface` schema key: the card declares the features
    buffer = io.BytesIO()
    pq.write_table(plain, buffer)
    server.add_dataset("owner/bare", {"train.parquet": buffer.getvalue()}, card=textwrap.dedent("""\
        ---
        dataset_info:
          features:
          - name: image
            dtype: image
          - name: label
            dtype:
              class_label:
                names:
                  '0': zebra
                  '1': ant
        ---
        """))
    server.add_dataset("owner/mixed", {"a.png": encode(noise(10)), "x/b.png": encode(noise(11)),
                                       "y/c.png": encode(noise(12))})
    server.add_dataset("owner/scripted", {"scripted.py": b"import datasets\n"}, card="---\nlicense: mit\n---\n")
    server.add_dataset("owner/tables", {"data.csv": b"a,b\n1,2\n"})
    server.add_dataset("owner/secret", {"a.png": encode(noise(13))}, private=True)
    server.add_dataset("owner/gated", {"a.png": encode(noise(14))}, card="---\nlicense: mit\n---\n", gated="auto")
    server.add_dataset("owner/flaky", {"a.png": encode(noise(15))})
    server.add_dataset("owner/broken", {"data/train.parquet": b"PAR1" + bytes(5000) + b"not a footer"})
    yield server
    server.stop()


def env_for(hub, home, offline=False, endpoint=None, token=None) -> dict:
    env = dict(os.environ, HF_ENDPOINT=endpoint or hub.url, HF_HOME=str(home), HF_HUB_OFFLINE="1" if offline else "0",
               HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    env.pop("HF_TOKEN", None)
    if token:
        env["HF_TOKEN"] = token
    return env


def run(hub, home, calls, **env) -> list[dict]:
    """Each call's result (or its one-line error) in a child process; the Hub's log split by call
    is left in hub.calls."""
    start = len(hub.log)
    res = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(calls), capture_output=True, text=True,
                         env=env_for(hub, home, **env), timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads(res.stdout.strip().splitlines()[-1])
    for call, result in zip(calls, results):
        assert "crash" not in result, (call, result["crash"])
    hub.calls, current = [], None
    for entry in hub.log[start:]:
        if entry["path"].startswith("/fgbg-test-mark/"):
            hub.calls.append(current := [])
        elif current is not None:
            current.append(entry)
    return results


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def call(spec, role="foregrounds", **kw) -> dict:
    return {"spec": spec, "role": role, **kw}


def one_line(result, *needles) -> str:
    assert "error" in result, result
    message = result["error"]
    assert "\n" not in message and "Traceback" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


# -- addresses -------------------------------------------------------------------------------------

def test_parse_address():
    assert parse_address("hf://datasets/owner/name") == HubAddress("owner/name", None, "")
    assert parse_address("hf://datasets/owner/name/") == HubAddress("owner/name", None, "")
    assert parse_address("hf://datasets/owner/name@v2/data/train/") == HubAddress("owner/name", "v2", "data/train")
    assert parse_address("hf://datasets/o-1/n.a_me@refs%2Fpr%2F1/x") == HubAddress("o-1/n.a_me", "refs/pr/1", "x")
    sha40 = "0123456789abcdef0123456789abcdef01234567"
    assert parse_address(f"hf://datasets/o/n@{sha40}") == HubAddress("o/n", sha40, "")
    assert str(parse_address("hf://datasets/o/n@refs%2Fpr%2F1/a/b")) == "hf://datasets/o/n@refs%2Fpr%2F1/a/b"
    for other in ("photos/", "./hf:/x", "*.png", "datasets/owner/name", "/abs/hf://x"):
        assert parse_address(other) is None
    for bad, needle in (("hf://datasets/owner", "OWNER/NAME"), ("hf://datasets/", "OWNER/NAME"),
                        ("hf://models/owner/name", "not a dataset"), ("hf://owner/name", "does not name a dataset"),
                        ("hf://datasets/owner/name@", "empty revision"),
                        ("hf://datasets/owner/name@/x", "empty revision"),
                        ("hf://datasets/owner/name/../x", "'..'"), ("hf://datasets/-x/name", "OWNER/NAME")):
        with pytest.raises(FgBgError) as info:
            parse_address(bad)
        assert needle in str(info.value) and "\n" not in str(info.value), (bad, str(info.value))


# -- image files -----------------------------------------------------------------------------------

def test_image_folder_with_categories_and_revisions(hub, tmp_path):
    got = run(hub, tmp_path / "hf", [
        call("hf://datasets/owner/pets"), call("hf://datasets/owner/pets/dogs"),
        call("hf://datasets/owner/pets", "backgrounds"), call("hf://datasets/owner/mixed"),
        call("hf://datasets/owner/pets@v2/dogs"), call("hf://datasets/owner/pets@refs%2Fpr%2F1/cats"),
        call("hf://datasets/owner/pets/cats/b.jpg", "backgrounds")])
    whole, dogs, backgrounds, mixed, v2, pr, single = got
    assert [f[0] for f in whole["files"]] == ["cats/a.png", "cats/b.jpg", "dogs/c.png", "dogs/d.JPEG", "dogs/e.webp"]
    assert all(f[1] == sha(hub.pets[f[0]]) for f in whole["files"])  # the bytes on the Hub, unchanged
    assert whole["category_names"] == ["cats", "dogs"]
    assert whole["categories"] == {"cats/a.png": "cats", "cats/b.jpg": "cats", "dogs/c.png": "dogs",
                                   "dogs/d.JPEG": "dogs", "dogs/e.webp": "dogs"}
    assert whole["provenance"] == {"repo": "owner/pets", "revision": None, "commit": hub.shas["pets"], "path": "",
                                   "kind": "files", "count": 5, "available": 5, "license": "cc-by-4.0",
                                   "columns": None, "sample": None, "seed": None, "skipped": []}
    # ImageFolder's rule: one folder is one label, so no categories; files at mixed depths neither
    assert [f[0] for f in dogs["files"]] == ["c.png", "d.JPEG", "e.webp"] and dogs["categories"] is None
    assert dogs["provenance"]["path"] == "dogs"
    assert backgrounds["categories"] is None and backgrounds["category_names"] is None
    assert len(mixed["files"]) == 3 and mixed["categories"] is None
    assert mixed["provenance"]["license"] == "unknown"  # no card
    assert [f[0] for f in v2["files"]] == ["c.png", "d.JPEG", "e.webp", "f.png"]
    assert v2["provenance"]["commit"] == hub.shas["pets-v2"] and v2["provenance"]["revision"] == "v2"
    assert "g.png" in [f[0] for f in pr["files"]] and pr["provenance"]["commit"] == hub.shas["pets-pr"]
    assert [f[0] for f in single["files"]] == ["b.jpg"]
    # files come through the user's Hugging Face cache
    assert all("/hub/datasets--owner--pets/snapshots/" in f[2] for f in whole["files"])


def test_sampled_files_are_seeded(hub, tmp_path):
    first, again, other, everything = run(hub, tmp_path / "hf", [
        call("hf://datasets/owner/pets", sample=2, seed=0), call("hf://datasets/owner/pets", sample=2, seed=0),
        call("hf://datasets/owner/pets", sample=2, seed=3), call("hf://datasets/owner/pets", sample=99)])
    names = lambda r: [f[0] for f in r["files"]]  # noqa: E731
    assert len(names(first)) == 2 and names(first) == sorted(names(first)) == names(again)
    assert names(other) != names(first)
    assert set(first["categories"]) == set(names(first)) and first["category_names"] == ["cats", "dogs"]
    assert first["provenance"]["count"] == 2 and first["provenance"]["available"] == 5
    assert first["provenance"]["sample"] == 2
    assert len(everything["files"]) == 5 and everything["provenance"]["sample"] == 99
    downloads = [e for e in hub.calls[0] if e["method"] == "GET" and "/resolve/" in e["path"]
                 and not e["path"].endswith("README.md")]
    assert len(downloads) == 2  # only the chosen files were fetched


# -- Parquet ---------------------------------------------------------------------------------------

def places_row(name: str) -> int:
    """The source row of a materialised name such as data/train-00001-of-00002/00000007.png."""
    stem, row = name.rsplit("/", 1)
    return int(row.split(".")[0]) + (60 if stem.endswith("00001-of-00002") else 0)


def test_parquet_sample_reads_only_the_row_groups_it_needs(hub, tmp_path):
    home = tmp_path / "hf"
    first, again, other = run(hub, home, [
        call("hf://datasets/owner/places", sample=3, seed=1), call("hf://datasets/owner/places", sample=3, seed=1),
        call("hf://datasets/owner/places", sample=3, seed=2)])
    names = [f[0] for f in first["files"]]
    assert len(names) == 3 and names == sorted(names) == [f[0] for f in again["files"]]
    assert names != [f[0] for f in other["files"]]
    for name, digest, _ in first["files"]:
        i = places_row(name)
        assert digest == sha(encode(noise(i, (96, 96))))  # the stored PNG, byte for byte
        assert first["categories"][name] == LABELS[i % 3]  # the source's label id → its name
    assert first["category_names"] == LABELS
    prov = first["provenance"]
    assert prov == {"repo": "owner/places", "revision": None, "commit": hub.shas["places"], "path": "",
                    "kind": "parquet", "count": 3, "available": 120, "license": "places-noncommercial",
                    "columns": {"image": "image", "label": "label", "matte": None}, "sample": 3, "seed": 1,
                    "skipped": []}
    reads = [e for e in hub.calls[0] if e["method"] == "GET" and e["path"].endswith(".parquet")]
    total = sum(len(b) for b in hub.places.values())
    read = sum(e["bytes_out"] for e in reads)
    groups = len({(places_row(n) // 4) for n in names})
    # a footer per file, then, for each row group holding a chosen row, one range per column chunk read
    # (image.bytes, image.path, label: pre-buffering, which would join them, is off, see _parquet_file);
    # nothing else of the files
    assert all(e["status"] == 206 for e in reads) and len(reads) == 2 + 3 * groups, \
        [(e["path"], e["range"]) for e in reads]
    assert read < 0.2 * total, (read, total)
    print(f"sampled 3 of 120 rows: {len(reads)} range requests, {read} of {total} bytes")
    # the rerun reads nothing of the files: its rows are in the cache
    assert not [e for e in hub.calls[1] if e["path"].endswith(".parquet")]
    assert not [e for e in hub.calls[1] if "/tree/" in e["path"]]  # nor lists the repository again


def test_parquet_all_rows_and_backgrounds(hub, tmp_path):
    fg, bg, bare = run(hub, tmp_path / "hf", [call("hf://datasets/owner/places/data"),
                                              call("hf://datasets/owner/places", "backgrounds", sample=5),
                                              call("hf://datasets/owner/bare")])
    assert len(fg["files"]) == 120 and fg["provenance"]["path"] == "data"
    assert fg["files"][0][0] == "train-00000-of-00002/00000000.png"
    assert all(fg["categories"][n] == LABELS[places_row("data/" + n) % 3] for n, _, _ in fg["files"])
    assert bg["categories"] is None and bg["category_names"] is None and len(bg["files"]) == 5
    assert bg["provenance"]["columns"] == {"image": "image", "label": None, "matte": None}
    assert bare["category_names"] == ["zebra", "ant"]
    assert bare["categories"] == {"train/00000000.png": "ant", "train/00000001.png": "zebra",
                                  "train/00000002.png": "ant"}


def test_matte_column_makes_rgba(hub, tmp_path):
    spec = "hf://datasets/owner/mattes"
    got, plain, labelled = run(hub, tmp_path / "hf", [
        call(spec, image_column="image", matte_column="alpha"), call(spec, image_column="image"),
        call(spec, image_column="image", label_column="kind", matte_column="alpha")])
    assert [f[0] for f in got["files"]] == ["data/train/00000000.png", "data/train/00000001.png",
                                            "data/train/00000002.png"]
    assert got["provenance"]["skipped"] == [{"name": "data/train/00000003.png",
                                             "reason": "no matte bytes in column 'alpha'"}]
    assert got["provenance"]["count"] == 3 and got["provenance"]["available"] == 4
    assert got["provenance"]["license"] == "mit, cc-by-4.0"
    for (name, _, path), row in zip(got["files"], hub.matte_rows):
        out = Image.open(path)
        assert out.mode == "RGBA" and not out.info.get("dpi") and out.size == (40, 32)
        rgb = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB"))
        matte = Image.open(io.BytesIO(row["alpha"]["bytes"])).convert("L")
        if matte.size != out.size:
            matte = matte.resize(out.size, Image.BILINEAR)
        assert np.array_equal(np.asarray(out)[..., 3], np.asarray(matte)), name
        assert np.array_equal(np.asarray(out)[..., :3], rgb), name
    # without a matte: the JPEG as stored, its own extension
    assert [f[0] for f in plain["files"]][0] == "data/train/00000000.jpg"
    assert plain["files"][0][1] == sha(hub.matte_rows[0]["image"]["bytes"])
    assert plain["category_names"] == ["hair", "glass"]  # the only ClassLabel is the label unless one is named
    assert labelled["category_names"] == ["hair", "glass"]
    assert labelled["categories"] == {"data/train/00000000.png": "hair", "data/train/00000001.png": "glass",
                                      "data/train/00000002.png": "hair"}


# -- offline ---------------------------------------------------------------------------------------

OFFLINE_CALLS = [call("hf://datasets/owner/pets", sample=3, seed=4),
                 call("hf://datasets/owner/places", sample=4, seed=9),
                 call("hf://datasets/owner/mattes", image_column="image", matte_column="alpha"),
                 call("hf://datasets/owner/pets@refs%2Fpr%2F1/cats")]


@pytest.mark.slow
def test_offline_rerun_from_the_cache_gives_the_same_files(hub, tmp_path):
    home = tmp_path / "hf"
    online = run(hub, home, OFFLINE_CALLS)
    before = len(hub.log)
    offline = run(hub, home, OFFLINE_CALLS + [call("hf://datasets/owner/places", sample=4, seed=10)], offline=True)
    assert [e for e in hub.log[before:] if not e["path"].startswith("/fgbg-test-mark/")] == []
    for a, b in zip(online, offline):
        assert [f[:2] for f in a["files"]] == [f[:2] for f in b["files"]]  # names and bytes
        assert a["categories"] == b["categories"] and a["category_names"] == b["category_names"]
        assert a["provenance"] == b["provenance"]
    one_line(offline[-1], "not in the local cache", "HF_HUB_OFFLINE", "once online", "hf download owner/places")
    with socket.socket() as s:  # a Hub that cannot be reached: the cached commit and files serve
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    unreachable = run(hub, home, OFFLINE_CALLS[:2], endpoint=closed)
    assert [r["files"] for r in unreachable] == [r["files"] for r in online[:2]]


@pytest.mark.slow
def test_offline_after_hf_download(hub, tmp_path):
    """`hf download` (snapshot_download) ahead is enough: its listing and files serve the same sample."""
    home = tmp_path / "hf"
    res = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from huggingface_hub import snapshot_download
        for repo in ("owner/places", "owner/pets"):
            snapshot_download(repo, repo_type="dataset")
    """)], env=env_for(hub, home), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    offline = run(hub, home, OFFLINE_CALLS[:2], offline=True)
    online = run(hub, tmp_path / "elsewhere", OFFLINE_CALLS[:2])
    for a, b in zip(online, offline):
        assert [f[:2] for f in a["files"]] == [f[:2] for f in b["files"]]
        assert a["categories"] == b["categories"] and a["provenance"] == b["provenance"]


def test_offline_without_a_cache_is_one_line(hub, tmp_path):
    pets, places = run(hub, tmp_path / "hf", OFFLINE_CALLS[:2], offline=True)
    one_line(pets, "owner/pets", "not in the local cache", "once online", "hf download owner/pets --repo-type dataset")
    one_line(places, "owner/places", "not in the local cache")


# -- failures --------------------------------------------------------------------------------------

def test_every_failure_is_one_line(hub, tmp_path):
    hub.inject("GET", r"^/api/datasets/owner/flaky", 500, times=None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    cases = [
        (call("hf://datasets/owner/nope"), ("not found", "hf auth login", "HF_TOKEN")),
        (call("hf://datasets/owner/secret"), ("not found", "private", "hf auth login")),
        (call("hf://datasets/owner/pets@nope"), ("no revision 'nope'",)),
        (call("hf://datasets/owner/gated"), ("gated", "accept its conditions", "hf auth login")),
        (call("hf://datasets/owner/pets/nowhere"), ("does not exist", "cats, dogs")),
        (call("hf://datasets/owner/tables"), ("no images", "or Parquet")),
        (call("hf://datasets/owner/scripted"), ("loading script", "scripted.py", "datasets 4+", "data files")),
        (call("hf://datasets/owner/places", image_column="picture"), ("no column 'picture'", "image (image)",
                                                                      "label (ClassLabel)")),
        (call("hf://datasets/owner/mattes"), ("2 image columns", "image, alpha")),
        (call("hf://datasets/owner/mattes", image_column="caption"), ("'caption'", "not an image", "alpha (image)")),
        (call("hf://datasets/owner/mattes", image_column="image", matte_column="kind"), ("'kind'", "not an image")),
        (call("hf://datasets/owner/mattes", image_column="image", label_column="caption"), ("not a ClassLabel",)),
        (call("hf://datasets/owner/flaky"), ("HTTP 500", "try again later")),
        (call("hf://datasets/owner/broken"), ("data/train.parquet", "cannot be read as Parquet")),
        (call("hf://models/owner/pets"), ("not a dataset",)),
        (call("hf://datasets/owner/pets", sample=0), ("at least 1",)),
    ]
    results = run(hub, tmp_path / "hf", [c for c, _ in cases])
    for (c, needles), result in zip(cases, results):
        one_line(result, *needles)
    gated_with_token = run(hub, tmp_path / "hf", [call("hf://datasets/owner/gated")], token=READER)
    one_line(gated_with_token[0], "gated")
    unreachable = run(hub, tmp_path / "fresh", [call("hf://datasets/owner/pets")], endpoint=closed)
    one_line(unreachable[0], "cannot reach the Hub", "hf download owner/pets --repo-type dataset")
