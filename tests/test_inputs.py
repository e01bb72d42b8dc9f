"""Bad input: a one-line error with exit code 2, or a recorded skip; never a traceback."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli, write_background, write_foreground


def generate(out, bgs, fgs, *extra):
    return run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1",
                   "--size", "32", "--quiet", *extra)


def assert_one_line_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fgbg-depth: error:"), res.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_folder(tmp_path, small_inputs):
    _, fgs = small_inputs
    assert_one_line_error(generate(tmp_path / "o", tmp_path / "nope", fgs), "does not exist", "nope")


def test_empty_folder(tmp_path, small_inputs):
    bgs, _ = small_inputs
    (tmp_path / "empty").mkdir()
    assert_one_line_error(generate(tmp_path / "o", bgs, tmp_path / "empty"), "no PNG, JPEG or WebP")
    assert not (tmp_path / "o").exists()


def test_unreadable_and_non_image_files_are_skipped_and_recorded(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    (bgs / "notes.png").write_text("this is not a picture")
    (bgs / "zero.jpg").write_bytes(b"")
    good = (bgs / "bg0.png").read_bytes()
    (bgs / "cut.png").write_bytes(good[: len(good) // 2])
    res = generate(tmp_path / "o", bgs, fgs)
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "o" / ".fgbg-depth" / "report.json").read_text())
    reasons = {s["name"]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"notes.png", "zero.jpg", "cut.png"}
    assert "not an image" in reasons["notes.png"] and "empty" in reasons["zero.jpg"]
    assert "cannot be decoded" in reasons["cut.png"]
    card = (tmp_path / "o" / "README.md").read_text()
    assert "backgrounds/notes.png" in card
    assert "skipped backgrounds/zero.jpg" in res.stderr and "Traceback" not in res.stderr


def test_foreground_without_transparency(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    write_background(fgs / "opaque.png", seed=3)  # RGB: no alpha at all
    rgba = np.dstack([np.zeros((20, 20, 3), np.uint8), np.full((20, 20), 255, np.uint8)])
    Image.fromarray(rgba).save(fgs / "solid.png")  # alpha present but fully opaque
    Image.fromarray(np.zeros((20, 20, 4), np.uint8)).save(fgs / "ghost.png")
    res = generate(tmp_path / "o", bgs, fgs)
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "o" / ".fgbg-depth" / "report.json").read_text())
    reasons = {s["name"]: s["reason"] for s in report["skipped"]}
    assert "no transparency" in reasons["opaque.png"]
    assert "fully opaque" in reasons["solid.png"]
    assert "fully transparent" in reasons["ghost.png"]


def test_only_unusable_foregrounds_is_an_error(tmp_path, small_inputs):
    bgs, _ = small_inputs
    fgs = tmp_path / "flat"
    write_background(fgs / "a.png")
    assert_one_line_error(generate(tmp_path / "o", bgs, fgs), "no usable foregrounds", "a.png", "transparency")


def test_too_small_images_are_skipped(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    write_background(bgs / "tiny.png", size=(1, 1))
    write_foreground(fgs / "speck.png", size=(6, 6))
    res = generate(tmp_path / "o", bgs, fgs)
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "o" / ".fgbg-depth" / "report.json").read_text())
    reasons = {s["name"]: s["reason"] for s in report["skipped"]}
    assert "at least" in reasons["tiny.png"] and "at least" in reasons["speck.png"]


def test_output_folder_with_other_files(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "o"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert_one_line_error(generate(out, bgs, fgs), "did not write", "thesis.tex")
    assert (out / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_output_is_a_file(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    (tmp_path / "o").write_text("x")
    assert_one_line_error(generate(tmp_path / "o", bgs, fgs), "is a file")


@pytest.mark.parametrize("flag,value", [("--size", "4"), ("--placements", "0"), ("--test-fraction", "1.5"),
                                        ("--seed", "-1"), ("--workers", "0")])
def test_bad_arguments(tmp_path, small_inputs, flag, value):
    bgs, fgs = small_inputs
    assert_one_line_error(generate(tmp_path / "o", bgs, fgs, flag, value))


def test_densedepth_without_weights(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    res = run_cli("generate", "--out", tmp_path / "o", "--backgrounds", bgs, "--foregrounds", fgs,
                  "--depth", "densedepth", "--quiet", env={"FGBG_DEPTH_WEIGHTS": ""})
    assert_one_line_error(res, "--depth-weights")


def _report(out):
    report = json.loads((out / ".fgbg-depth" / "report.json").read_text())
    return report, {s["name"]: s["reason"] for s in report["skipped"]}


def _png_header_only(path, width, height):
    """A PNG that declares width×height pixels and holds none: what a decompression bomb looks like."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_hostile_backgrounds(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    good = bgs / "bg0.png"
    Image.open(good).save(bgs / "cut.jpg", quality=90)
    data = (bgs / "cut.jpg").read_bytes()
    (bgs / "cut.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG
    _png_header_only(bgs / "bomb.png", 100_000, 100_000)
    wide = (np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40).astype(np.uint16)
    Image.fromarray(wide).save(bgs / "grey16.png")  # 16-bit grey
    Image.open(good).convert("CMYK").save(bgs / "print.jpg")  # CMYK JPEG
    (bgs / "copy of bg1.png").write_bytes((bgs / "bg1.png").read_bytes())  # duplicate, with a space
    write_background(bgs / "café ☕.png", seed=7)  # unicode name
    outside = tmp_path / "elsewhere.png"
    write_background(outside, seed=9)
    (bgs / "link.png").symlink_to(outside)  # points outside the folder
    out = tmp_path / "o"
    res = generate(out, bgs, fgs)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    report, reasons = _report(out)
    assert "cannot be decoded" in reasons["cut.jpg"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert "same content as bg1.png" in reasons["copy of bg1.png"]
    assert "outside the input folder" in reasons["link.png"]
    used = [name for name, _ in report["inputs"]["backgrounds"]]
    assert used == sorted(["bg0.png", "bg1.png", "bg2.png", "grey16.png", "print.jpg", "café ☕.png"])
    from datasets import load_dataset
    ds = load_dataset(str(out), split="train")
    assert "café ☕.png" in set(ds["bg_name"])
    grey = ds.filter(lambda r: r["bg_name"] == "grey16.png")[0]["bg"]
    assert np.asarray(grey).std() > 5  # the 16-bit range was scaled, not clipped to white
    assert (out / "README.md").read_text().count("backgrounds/") >= 4  # skips are listed in the card


def test_hostile_foregrounds(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    # a palette PNG whose transparency is a key, not an alpha channel
    pal = Image.new("P", (30, 30), 0)
    pal.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    for y in range(5, 25):
        for x in range(4, 26):
            pal.putpixel((x, y), 1)
    pal.save(fgs / "palette.png", transparency=0)
    la = np.zeros((30, 30, 2), np.uint8)
    la[5:25, 5:25] = (180, 255)
    Image.fromarray(la, "LA").save(fgs / "grey alpha.png")  # grayscale with alpha
    out = tmp_path / "o"
    res = generate(out, bgs, fgs)
    assert res.returncode == 0, res.stderr
    report, reasons = _report(out)
    used = [name for name, _ in report["inputs"]["foregrounds"]]
    assert "palette.png" in used and "grey alpha.png" in used
    assert reasons == {}
    from datasets import load_dataset
    ds = load_dataset(str(out), split="train")
    row = ds.filter(lambda r: r["fg_name"] == "palette.png")[0]
    mask = np.asarray(row["mask"])
    assert row["w"] * row["h"] > 0 and (mask == 255).sum() > 0.5 * row["w"] * row["h"]
