"""Contact sheets and the HTML report."""

import html.parser
import io
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from fgbg_depth.preview import GAP, LABEL_H, colorize, contact_sheet, read_rows
from fgbg_depth.report import SECTIONS


def test_sheet_size_and_every_cell_is_its_sample(sample_out):
    n = 5
    sheet = contact_sheet(sample_out, n=n, split="test")
    rows = read_rows(sample_out, "test", n)
    s = 64
    assert sheet.size == (4 * (s + GAP) - GAP, n * (s + LABEL_H) + 24)
    ids = [r["sample_id"] for r in rows]
    assert len(set(ids)) == n and ids == sorted(ids) and ids[0] != ids[1] - 1  # spread over the split
    arr = np.asarray(sheet)
    scale = 10 / 65535
    for i, row in enumerate(rows):
        def cell(j):
            y, x = i * (s + LABEL_H), j * (s + GAP)
            return arr[y:y + s, x:x + s]
        decode = lambda col: Image.open(io.BytesIO(row[col]["bytes"]))  # noqa: E731
        assert np.array_equal(cell(0), np.asarray(decode("bg").convert("RGB")))
        assert np.array_equal(cell(1), np.asarray(decode("fg_bg").convert("RGB")))
        assert np.array_equal(cell(2), np.asarray(decode("mask").convert("RGB")))
        depth = np.asarray(decode("depth"), np.float32) * scale
        assert np.array_equal(cell(3), colorize(depth, 10.0))


def test_preview_command(sample_out, tmp_path):
    res = run_cli("preview", sample_out, "--n", "3", "--out", tmp_path / "p.png")
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "p.png").size == (4 * (64 + GAP) - GAP, 3 * (64 + LABEL_H) + 24)
    res = run_cli("preview", tmp_path / "nothing-here")
    assert res.returncode == 2 and "not a folder made by" in res.stderr


class Sections(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.tags, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))


@pytest.fixture(scope="module")
def report_html(sample_out, tmp_path_factory):
    target = tmp_path_factory.mktemp("rep") / "report.html"
    res = run_cli("report", sample_out, "--n", "4", "--out", target)
    assert res.returncode == 0, res.stderr
    return target


def test_report_is_self_contained_and_has_every_section(report_html, sample_out):
    text = report_html.read_text()
    parser = Sections()
    parser.feed(text)
    assert parser.ids == list(SECTIONS)
    assert "script" not in parser.tags
    assert parser.images and all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    assert text.count("<svg") == 4  # scale, x, y, depth histograms
    assert "--placements 2 --size 64" in text
    assert "None: every input file was used" in text


@pytest.mark.slow
def test_report_lists_skipped_inputs(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    (bgs / "broken.png").write_text("nope")
    out = tmp_path / "o"
    assert run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1",
                   "--size", "32", "--quiet").returncode == 0
    assert run_cli("report", out).returncode == 0
    text = (out / ".fgbg-depth" / "report.html").read_text()
    assert "broken.png" in text and "not an image" in text


def test_report_renders_in_headless_chromium(report_html, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no Chromium on this machine")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1000,1600",
                    report_html.as_uri()], capture_output=True, timeout=120)
    assert shot.exists(), "Chromium wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("RGB"), np.float32)
    assert pixels.std() > 20  # not a blank page
    assert (pixels.reshape(-1, 3).std(axis=1) > 30).mean() > 0.01  # colour from the inlined pictures
