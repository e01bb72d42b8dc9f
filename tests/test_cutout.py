"""`fgbg-depth cutout` and `accept` as a user runs them: photos → checked cut-outs → `generate` → `verify`.

The model is the stand-in of tools/make_cutout_demo.py (a green-screen key in BiRefNet's ONNX layout),
served by tests/hubserver.py as `owner/chroma-key`, or read from its folder; the photos are the demo's
(objects on a green backdrop, and five a careful user wants flagged) plus hostile files made here.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
sys.path.insert(0, str(ROOT / "tools"))
import make_cutout_demo  # noqa: E402

REPO = "owner/chroma-key"
EXPECTED = {  # the demo's photos → the flags the checks must give (none for the six good ones)
    "doubtful/cut_by_the_frame.jpg": ["touches_edge"],
    "doubtful/two_objects.jpg": ["pieces"],
    "doubtful/no_backdrop.jpg": ["whole_frame", "touches_edge"],
    "doubtful/ghost.jpg": ["unsure"],
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    make_cutout_demo.make_photos(folder / "photos")
    make_cutout_demo.make_model(folder / "chroma-key")
    return folder


@pytest.fixture(scope="module")
def hub(demo):
    from hubserver import HubServer
    server = HubServer({}).start()
    model = demo / "chroma-key"
    server.add_model(REPO, {p.relative_to(model).as_posix(): p.read_bytes() for p in model.rglob("*") if p.is_file()})
    yield server
    server.stop()


def hub_env(server, home, offline=False) -> dict:
    return {"HF_ENDPOINT": server.url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1" if offline else "0",
            "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_TOKEN": ""}


def cutout(photos, out, *args, env=None):
    return run_cli("cutout", *([photos] if isinstance(photos, (str, Path)) else photos), "--out", out, "--quiet",
                   *args, env=env)


def records(out) -> dict:
    return {r["source"]: r for r in map(json.loads, (Path(out) / "metadata.jsonl").read_text().splitlines())}


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder) -> dict:
    """Every file under `folder`: (bytes' hash, mtime, inode), to prove a rerun rewrote nothing."""
    return {p.relative_to(folder).as_posix(): (sha256(p), p.stat().st_mtime_ns, p.stat().st_ino)
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and p.name != "lock"}


def one_line_error(res) -> str:
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def from_hub(demo, hub, tmp_path_factory):
    """The demo's photos cut out with the model from the test Hub: (FG, env, what the command printed)."""
    home = tmp_path_factory.mktemp("hf")
    out = tmp_path_factory.mktemp("cut") / "fg"
    env = hub_env(hub, home)
    res = cutout(demo / "photos", out, "--model", REPO, env=env)
    assert res.returncode == 0, res.stderr
    return out, env, res.stdout


def test_every_photo_gets_a_record_with_its_checks_and_the_models_provenance(demo, hub, from_hub):
    out, _, printed = from_hub
    got = records(out)
    photos = sorted(p.relative_to(demo / "photos").as_posix() for p in (demo / "photos").rglob("*.jpg"))
    assert sorted(got) == photos  # one record per photo
    empty = got.pop("doubtful/empty_backdrop.jpg")  # nothing found: no cut-out, and why
    assert empty["flags"] == ["empty"] and empty["status"] == "skipped" and empty["file_name"] is None
    assert empty["checks"]["object_share"] == 0 and "found nothing" in empty["skipped"]
    for source, record in got.items():
        assert record["flags"] == EXPECTED.get(source, []), source  # exactly the crafted bad ones, no clean one
        assert record["status"] == ("flagged" if source in EXPECTED else "kept")
        assert record["source_sha256"] == sha256(demo / "photos" / source)
        assert record["category"] == source.split("/")[0]
        assert record["model"] == REPO and record["license"] == "cc0-1.0"
        assert record["revision"] == hub.models[REPO].branches["main"]
        assert record["weights_sha256"] == sha256(demo / "chroma-key" / "onnx" / "model.onnx")
        assert record["provider"] == "CPUExecutionProvider" and record["input_size"] == [256, 256]
        assert set(record["checks"]) == {"object_share", "edge_share", "pieces", "unsure_share"}
        cut = out / record["file_name"]
        assert record["file_name"] == source[:-4] + ".png" and record["cutout_sha256"] == sha256(cut)
        with Image.open(cut) as im:
            assert im.mode == "RGBA"
            x0, y0, x1, y1 = record["box"]
            assert im.size == (x1 - x0, y1 - y0)
    assert "6 kept, 4 flagged, 0 accepted, 1 without a cut-out" in printed and REPO in printed
    clean = got["round/coffee_blob.jpg"]
    assert clean["box"][2] - clean["box"][0] < clean["width"] * 0.6  # cropped to the object


def test_imagefolder_reads_the_cut_outs_with_their_records(from_hub):
    from datasets import load_dataset
    out, _, _ = from_hub
    ds = load_dataset("imagefolder", data_dir=str(out), split="train")
    assert len(ds) == 11 and {"image", "status", "flags", "checks", "model"} <= set(ds.column_names)
    row = next(r for r in ds if r["source"] == "round/coffee_blob.jpg")
    assert row["image"].mode == "RGBA" and row["status"] == "kept"


def test_a_rerun_does_nothing_and_other_options_are_refused(demo, hub, from_hub):
    out, env, _ = from_hub
    before = snapshot(out)
    requests = len(hub.log)
    res = cutout(demo / "photos", out, "--model", REPO, env=env)
    assert res.returncode == 0, res.stderr
    assert snapshot(out) == before  # nothing rewritten, not even metadata.jsonl or review.html
    assert not [e for e in hub.log[requests:] if e["method"] == "GET" and e["path"].endswith(".onnx")]
    line = one_line_error(cutout(demo / "photos", out, "--model", REPO, "--edge-above", "0.5", env=env))
    assert "other options" in line and "thresholds" in line
    assert snapshot(out) == before


@pytest.mark.slow
def test_the_same_photos_give_the_same_bytes_whatever_the_workers(demo, tmp_path):
    model = demo / "chroma-key"
    assert cutout(demo / "photos", tmp_path / "one", "--model", model, "--workers", "1").returncode == 0
    assert cutout(demo / "photos", tmp_path / "two", "--model", model, "--workers", "2",
                  "--batch-size", "3").returncode == 0
    one, two = snapshot(tmp_path / "one"), snapshot(tmp_path / "two")
    cutouts = [k for k in one if k.endswith(".png") and not k.startswith(".")]
    assert len(cutouts) == 10
    assert all(one[k][0] == two[k][0] for k in cutouts + ["metadata.jsonl"])


def test_offline_without_the_model_is_one_line(demo, hub, tmp_path):
    res = cutout(demo / "photos", tmp_path / "fg", "--model", REPO, env=hub_env(hub, tmp_path / "empty", offline=True))
    line = one_line_error(res)
    assert f"hf download {REPO}" in line and "HF_HUB_OFFLINE" in line
    assert not (tmp_path / "fg").exists()  # nothing written


def test_cut_outs_feed_generate_which_names_the_model_and_verifies(demo, hub, from_hub, tmp_path):
    out, env, _ = from_hub
    data = tmp_path / "data"
    res = run_cli("generate", "--out", data, "--foregrounds", out, "--placements", "2", "--size", "64",
                  "--depth", "planar", "--quiet", env=env)
    assert res.returncode == 0, res.stderr
    for source in EXPECTED:
        assert f"foregrounds/{source[:-4]}.png: flagged by `fgbg-depth cutout`" in res.stderr
    card = (data / "README.md").read_text()
    assert f"cut out of photos by `{REPO}` at revision `{hub.models[REPO].branches['main']}`" in card
    assert "6 passed every check" in card and "4 flagged ones were left out" in card and "1 gave no" in card
    from fgbg_depth import read_card_metadata
    source = read_card_metadata(card)["cutout_source"]
    assert source["counts"] == {"flagged": 4, "kept": 6, "skipped": 1} and source["used"] == 6
    manifest = json.loads((data / ".fgbg-depth" / "manifest.json").read_text())
    assert manifest["recipe"]["cutout"]["models"][0]["model"] == REPO
    verified = run_cli("verify", data)
    assert verified.returncode == 0, verified.stdout
    # rebuilt from its card and sources/ (plain files now): the same shards, and the model still named
    again = tmp_path / "again"
    res = run_cli("rebuild", data, "--out", again, "--quiet")
    assert res.returncode == 0, res.stderr
    assert "byte for byte" in res.stdout
    rebuilt = (again / "README.md").read_text()
    assert read_card_metadata(rebuilt)["cutout_source"] == source
    assert f"cut out of photos by `{REPO}` at revision `{hub.models[REPO].branches['main']}`" in rebuilt
    assert json.loads((again / ".fgbg-depth" / "manifest.json").read_text())["recipe"] == manifest["recipe"]


@pytest.mark.slow
def test_accept_lets_generate_use_a_flagged_cut_out_and_hand_fixes_are_checked(demo, from_hub, tmp_path):
    fg = tmp_path / "fg"
    shutil.copytree(from_hub[0], fg)
    line = one_line_error(run_cli("accept", fg, "nonesuch.png"))
    assert "no cut-out named 'nonesuch.png'" in line
    assert "is kept, not flagged" in one_line_error(run_cli("accept", fg, "round/coffee_blob.png"))
    res = run_cli("accept", fg, "doubtful/two_objects.png")
    assert res.returncode == 0 and "accepted 1 cut-outs" in res.stdout
    assert records(fg)["doubtful/two_objects.jpg"]["status"] == "accepted"
    # a kept cut-out touched up by hand is left out until it is accepted as it is now
    fixed = fg / "round" / "coffee_blob.png"
    with Image.open(fixed) as im:
        pixels = np.asarray(im).copy()
    pixels[pixels.shape[0] // 2, :, 3] = 0  # a cut through the middle
    Image.fromarray(pixels).save(fixed)
    data = tmp_path / "data"
    res = run_cli("generate", "--out", data, "--foregrounds", fg, "--placements", "1", "--size", "48",
                  "--depth", "none", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "foregrounds/round/coffee_blob.png: changed since it was cut out" in res.stderr
    used = [n for n, _ in json.loads((data / ".fgbg-depth" / "manifest.json").read_text())["recipe"]["foregrounds"]]
    assert "doubtful/two_objects.png" in used and "round/coffee_blob.png" not in used
    # the same foregrounds folder with other records is another recipe: the old folder is not resumed
    assert run_cli("accept", fg, "doubtful/ghost.png", "round/coffee_blob.jpg").returncode == 2  # kept: refused
    assert run_cli("accept", fg, "--all").returncode == 0
    assert {r["status"] for r in records(fg).values()} == {"kept", "accepted", "skipped"}
    res = run_cli("generate", "--out", data, "--foregrounds", fg, "--placements", "1", "--size", "48",
                  "--depth", "none", "--quiet")
    assert "made with other arguments" in one_line_error(res) and "cutout" in res.stderr
    assert run_cli("accept", fg, "--all", "--undo").returncode == 0
    assert sum(r["status"] == "flagged" for r in records(fg).values()) == 4


def test_hostile_and_odd_photos(demo, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(demo / "photos" / "round", photos)
    good = np.asarray(Image.open(photos / "coffee_blob.jpg"))
    (photos / "zero.jpg").write_bytes(b"")
    (photos / "truncated.jpg").write_bytes((photos / "coffee_blob.jpg").read_bytes()[:600])
    (photos / "not_an_image.png").write_text("hello")
    (photos / "tiny.png").write_bytes(_png(np.zeros((8, 8, 3), np.uint8)))
    (photos / "bomb.png").write_bytes(_png_declaring(100_000, 100_000))
    Image.fromarray(good).convert("CMYK").save(photos / "cmyk.jpg")
    Image.fromarray(good).convert("P").save(photos / "palette.png")
    Image.fromarray(good).convert("RGBA").save(photos / "with_alpha.png")
    Image.fromarray((good[..., 1].astype(np.uint16) * 257)).save(photos / "grey16.png")
    rotated = Image.fromarray(good)
    exif = rotated.getexif()
    exif[0x0112] = 6  # stored sideways: to be turned 90° on opening
    rotated.save(photos / "sideways.jpg", exif=exif)
    out = tmp_path / "fg"
    res = cutout(photos, out, "--model", demo / "chroma-key")
    assert res.returncode == 0, res.stderr
    got = records(out)
    reasons = {k: r.get("skipped") for k, r in got.items() if r["status"] == "skipped"}
    assert set(reasons) == {"zero.jpg", "truncated.jpg", "not_an_image.png", "tiny.png", "bomb.png"}
    assert "0 bytes" in reasons["zero.jpg"] and "decompression bomb" in reasons["bomb.png"]
    assert "not an image" in reasons["not_an_image.png"] and "8x8" in reasons["tiny.png"]
    for name in ("cmyk.jpg", "palette.png", "with_alpha.png", "grey16.png", "sideways.jpg"):
        assert got[name]["file_name"], name  # every mode made RGB and cut out
    h, w = good.shape[:2]
    assert (got["sideways.jpg"]["width"], got["sideways.jpg"]["height"]) == (h, w)  # EXIF orientation applied
    page = (out / "review.html").read_text()
    assert "decompression bomb" in page and page.index('id="skipped"') < page.index('id="kept"')
    # nothing usable at all: exit 1, with the reason
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "zero.jpg").write_bytes(b"")
    res = cutout(bad, tmp_path / "fg2", "--model", demo / "chroma-key")
    assert res.returncode == 1 and "no photo gave a cut-out" in res.stderr


def _png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header (checksum and all) declares width × height one-bit pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def _png(pixels) -> bytes:
    import io
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


DISC_RED = (200, 40, 50)


def soft_disc_on_green(size=240, ramp=14.0):
    """A red disc whose edge fades over `ramp` pixels, photographed on the demo's green backdrop."""
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
    alpha = np.clip((size * 0.3 - r) / ramp + 0.5, 0, 1)[..., None]
    red, green = np.array(DISC_RED, np.float64), np.array(make_cutout_demo.GREEN, np.float64)
    return np.rint(alpha * red + (1 - alpha) * green).astype(np.uint8)


def green_excess(rgba, backdrop=(255, 255, 255)) -> float:
    """The largest G − (R+B)/2 over the soft edge (0 < alpha < 255) of the cut-out pasted on `backdrop`."""
    a = rgba[..., 3:].astype(np.float64) / 255
    pasted = a * rgba[..., :3] + (1 - a) * np.asarray(backdrop, np.float64)
    fringe = (rgba[..., 3] > 0) & (rgba[..., 3] < 255)
    excess = pasted[..., 1] - (pasted[..., 0] + pasted[..., 2]) / 2
    return float(excess[fringe].max())


def test_no_green_fringe_when_a_cut_out_is_pasted_elsewhere(tmp_path):
    """With a model that gets the alpha of the soft edge right (as a matting model should), the cut-out's
    colours along that edge are the object's: pasted on white, no green shows."""
    from onnx_models import linear_key_model
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = soft_disc_on_green()
    Image.fromarray(photo).save(photos / "disc.png")
    red, green = np.array(DISC_RED, np.float64), np.array(make_cutout_demo.GREEN, np.float64)
    model = linear_key_model(tmp_path / "linear-key.onnx", size=240, key=make_cutout_demo.GREEN,
                             span=float(np.linalg.norm(red - green)))
    out = tmp_path / "fg"
    assert cutout(photos, out, "--model", model).returncode == 0
    record = records(out)["disc.png"]
    with Image.open(out / "disc.png") as im:
        ours = np.asarray(im)
    x0, y0, x1, y1 = record["box"]
    naive = np.dstack([photo[y0:y1, x0:x1], ours[..., 3]])  # the photo's own colours under the same alpha
    ours_excess, naive_excess = green_excess(ours), green_excess(naive)
    print(f"green excess in the fringe on white: estimated colours {ours_excess:.1f}, photo colours {naive_excess:.1f}")
    assert naive_excess > 20  # the test can fail: with the photo's colours the old backdrop shows through
    assert ours_excess < 5
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"at most {ours_excess:.1f} levels; {naive_excess:.1f} with the photo's own colours" in readme, \
        "the README quotes other figures"


def test_a_model_that_does_not_fit_or_a_bad_option_is_one_line(demo, tmp_path):
    from onnx_models import two_outputs_model
    misfit = two_outputs_model(tmp_path / "two.onnx")
    line = one_line_error(cutout(demo / "photos", tmp_path / "fg", "--model", misfit))
    assert "does not fit" in line and "'edges'" in line
    assert "--workers" in one_line_error(cutout(demo / "photos", tmp_path / "fg", "--workers", "0"))
    assert "not an .onnx file" in one_line_error(cutout(demo / "photos", tmp_path / "fg", "--model",
                                                        demo / "chroma-key" / "README.md"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    line = one_line_error(cutout(demo / "photos", tmp_path / "mine", "--model", demo / "chroma-key"))
    assert "did not write" in line and (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_a_non_commercial_model_is_named_on_the_review_page_and_in_the_card(demo, tmp_path):
    model = tmp_path / "nc-model"
    shutil.copytree(demo / "chroma-key", model)
    (model / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n")
    out = tmp_path / "fg"
    assert cutout(demo / "photos" / "round", out, "--model", model).returncode == 0
    assert "does not allow commercial use" in (out / "review.html").read_text()
    data = tmp_path / "data"
    res = run_cli("generate", "--out", data, "--foregrounds", out, "--placements", "1", "--size", "48",
                  "--depth", "none", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "non-commercial licence (cc-by-nc-4.0)" in (data / "README.md").read_text()


MATTING_PLUGIN = '''
import numpy as np

class Disc:
    input_size = (64, 64)

    def __init__(self, share="0.2"):
        self.share = float(share)

    def predict(self, images):
        n, h, w = images.shape[:3]
        yy, xx = np.mgrid[0:h, 0:w]
        inside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < self.share * h * w / np.pi
        return np.broadcast_to(inside.astype(np.float32), (n, h, w)).copy()

    def describe(self):
        return {"backend": "disc", "model": "disc", "license": "mit", "share": self.share}

def make(**options):
    return Disc(**options)
'''


def test_python_api_and_a_matting_plug_in(demo, tmp_path):
    from fgbg_depth.cutout import get_matting
    from test_plugins import install
    matting = get_matting(str(demo / "chroma-key"), device="cpu")
    photo = np.asarray(Image.open(demo / "photos" / "round" / "coffee_blob.jpg"))
    prob = matting.predict(photo[None])
    assert prob.shape == (1, *photo.shape[:2]) and prob.dtype == np.float32 and 0 <= prob.min() <= prob.max() <= 1
    assert prob[0, 0, 0] < 0.1 and prob[0, photo.shape[0] // 2, photo.shape[1] // 2] > 0.9  # backdrop out, object in
    env = install(tmp_path / "site", "disc_matting", MATTING_PLUGIN, {"disc": "disc_matting:make"},
                  group="fgbg_depth.matting")
    out = tmp_path / "fg"
    res = cutout(demo / "photos" / "round", out, "--model", "disc", "--model-option", "share=0.1", env=env)
    assert res.returncode == 0, res.stderr
    assert {r["model"] for r in records(out).values()} == {"disc"}
    assert all(r["status"] == "kept" for r in records(out).values())


def test_the_review_page_renders_in_chromium_flagged_first(from_hub, tmp_path):
    out = from_hub[0]
    page = (out / "review.html").read_text()
    assert "<script" not in page and 'src="http' not in page  # self-contained
    assert page.index('id="flagged"') < page.index('id="kept"')
    assert page.count("<article") == 11 and page.count('class="flagged"') == 4
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no Chromium on this machine")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1100,1400",
                    (out / "review.html").as_uri()], capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB"), np.float32)
    assert pixels.std() > 20
    assert (pixels.reshape(-1, 3).std(axis=1) > 30).mean() > 0.02  # the inlined pictures are shown


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_bytes(demo, tmp_path):
    photos = tmp_path / "photos"
    for i in range(4):  # 44 photos: long enough to be killed in the middle
        shutil.copytree(demo / "photos", photos / f"set{i}")
    model = demo / "chroma-key"
    reference = tmp_path / "reference"
    assert cutout(photos, reference, "--model", model).returncode == 0
    out = tmp_path / "fg"
    rng = np.random.default_rng(0)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "fgbg_depth", "cutout", str(photos), "--out", str(out),
                                 "--model", str(model), "--workers", "2", "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
        time.sleep(float(rng.uniform(2.0, 5.0)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
        assert all(p.stat().st_size >= 0 for p in leftovers)
    assert cutout(photos, out, "--model", model).returncode == 0
    assert not [p for p in out.rglob("*.tmp")]
    want, got = snapshot(reference), snapshot(out)
    visible = [k for k in want if not k.startswith(".")]
    assert [k for k in got if not k.startswith(".")] == visible
    assert all(want[k][0] == got[k][0] for k in visible if k != "review.html")


@pytest.mark.slow
def test_the_readmes_review_picture_is_what_its_commands_make(tmp_path):
    """docs/review.png is a screenshot of the review page the README's three commands make. Fonts and
    anti-aliasing may differ between machines, so the pictures are compared at a quarter of their size."""
    import re
    import shlex
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no Chromium on this machine")
    readme = " ".join((ROOT / "README.md").read_text().split())
    made = re.search(r"Made with `python tools/make_cutout_demo.py demo` \(it needs `pip install onnx`\), "
                     r"`fgbg-depth cutout ([^`]*)` and `chromium ([^`]*)`", readme)
    assert made, "the README no longer says how docs/review.png is made"
    cwd = tmp_path
    assert subprocess.run([sys.executable, str(ROOT / "tools" / "make_cutout_demo.py"), "demo"], cwd=cwd,
                          capture_output=True).returncode == 0
    assert run_cli("cutout", *shlex.split(made.group(1)), "--quiet", cwd=cwd).returncode == 0
    args = [a.replace("docs/review.png", str(tmp_path / "review.png")) for a in shlex.split(made.group(2))]
    args = [str(cwd / a) if a.endswith(".html") else a for a in args]
    subprocess.run([browser, f"--user-data-dir={tmp_path / 'profile'}", "--disable-gpu", *args],
                   capture_output=True, timeout=120)
    got, want = (Image.open(p).convert("RGB") for p in (tmp_path / "review.png", ROOT / "docs" / "review.png"))
    assert got.size == want.size
    small = [np.asarray(im.resize((im.width // 4, im.height // 4), Image.Resampling.BOX), np.float32)
             for im in (got, want)]
    difference = np.abs(small[0] - small[1]).mean()
    assert difference < 4, f"{difference:.1f} levels apart: remake docs/review.png with the README's commands"
