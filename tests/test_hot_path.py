"""The hot path's fast forms give exactly what the plain forms give (so no byte of any dataset
moved when they replaced them), and a run on photo-like inputs still writes the pinned bytes."""

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli
from fgbg_depth import stats
from fgbg_depth.compose import paste, paste_cutout
from fgbg_depth.resample import resize_bands
from test_generate import shard_hashes

PHOTOS = ROOT / "bench" / "photos"
# written by compositing version 2 (compose.COMPOSE_VERSION; Pillow 13.0.0, simplejpeg 1.9.0, pyarrow 26.0.1,
# cykooz-resizer 4.0.1); the hot path may get faster, never different, unless that version moves
PINNED_PHOTOS = {"test-00000-of-00001.parquet": "dabee8b729ada0a65369c409ad7d5cb87b810552749e75ff96d50e3978223795",
                 "train-00000-of-00002.parquet": "7f07b8b984b73f172d1f1959579fd54c5f207272803d0d334ed051cc03a47b1a",
                 "train-00001-of-00002.parquet": "1f81cac0494b97d7f8bbbcd080a09fde8cf354a277b514a9df5338f330c7a16d"}


@pytest.mark.slow
@pytest.mark.parametrize("resizer", ["wheel", "numpy"])
def test_photo_inputs_write_the_pinned_bytes(tmp_path, resizer):
    """The same bytes whether fast_image_resize's wheel resizes or, where it has none, the NumPy form."""
    env = {}
    if resizer == "numpy":  # as on a platform without the wheel: importing it fails
        (tmp_path / "no-wheel").mkdir()
        (tmp_path / "no-wheel" / "cykooz_resizer.py").write_text("raise ImportError('no wheel here')\n")
        env["PYTHONPATH"] = str(tmp_path / "no-wheel")
    out = tmp_path / "out"
    res = run_cli("generate", "--out", out, "--backgrounds", PHOTOS / "backgrounds", "--foregrounds",
                  PHOTOS / "foregrounds", "--placements", "1", "--size", "96", "--depth", "planar",
                  "--shard-rows", "80", "--workers", "2", "--quiet", env=env)
    assert res.returncode == 0, res.stderr
    card = (out / "README.md").read_text()
    assert ("cykooz-resizer" in card) == (resizer == "wheel")  # the card names what resized
    assert shard_hashes(out) == PINNED_PHOTOS
    assert run_cli("verify", out).returncode == 0


def _pillow_paste(background: np.ndarray, cutout: np.ndarray, x: int, y: int, with_mask: bool = True):
    cut = Image.frombytes("RGBa", cutout.shape[1::-1], cutout.tobytes())
    opaque = np.where(cutout[..., 3] > 0, 255, 0).astype(np.uint8) if with_mask else None
    rgbx = np.dstack([background, np.full(background.shape[:2], 255, np.uint8)])
    composite, mask = paste_cutout(rgbx, cut, opaque, x, y)
    assert np.array_equal(rgbx[..., :3], background)  # the background left as it was
    return composite[..., :3], mask  # RGBX: its fourth byte is filler


def test_pillows_paste_rounds_exactly_as_ours_for_every_input():
    """Every (premultiplied colour ≤ alpha, background value, alpha): 256³ cases in one 256 × 65536
    picture (colours above their alpha, which no premultiplied cut-out has, clipped to it)."""
    alpha = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 65536, axis=1)
    fg = np.minimum(np.tile(np.repeat(np.arange(256, dtype=np.uint8), 256), (256, 1)), alpha)
    bg = np.tile(np.tile(np.arange(256, dtype=np.uint8), 256), (256, 1))
    cutout = np.dstack([fg, alpha - fg, fg, alpha])
    background = np.dstack([bg, bg, 255 - bg])
    ours, mask = paste(background, cutout, 0, 0)
    pillow, pillow_mask = _pillow_paste(background, cutout, 0, 0)
    assert np.array_equal(pillow, ours) and np.array_equal(pillow_mask, mask)


def test_placed_off_the_corner_too():
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    cutout = rng.integers(0, 256, (13, 17, 4), dtype=np.uint8)
    cutout[..., :3] = np.minimum(cutout[..., :3], cutout[..., 3:])
    ours, mask = paste(background, cutout, 30, 21)
    pillow, pillow_mask = _pillow_paste(background, cutout, 30, 21)
    assert np.array_equal(pillow, ours) and np.array_equal(pillow_mask, mask)
    assert _pillow_paste(background, cutout, 30, 21, with_mask=False)[1] is None
    wide = np.zeros((40, 50, 4), np.uint16)  # the mapping counts bytes: a wider dtype is refused, not pasted askew
    with pytest.raises(ValueError):
        paste_cutout(wide, Image.frombytes("RGBa", (17, 13), cutout.tobytes()), None, 30, 21)
    assert np.array_equal(_pillow_paste(background, cutout, 30, 21, with_mask=False)[0], ours)


def test_the_cached_premultiplied_resize_is_the_plain_one(tmp_path):
    """Pictures keeps each cut-out's premultiplied mip level and resizes it per sample: the same
    pixels as premultiplying and resizing it afresh (resample.py's NumPy form, so this holds the
    wheel to the definition on real cut-outs too)."""
    from fgbg_depth.generate import GenerateOptions, prepare
    from fgbg_depth.stages.pictures import Pictures
    job = prepare(GenerateOptions(out=str(tmp_path), backgrounds=str(PHOTOS / "backgrounds"),
                                  foregrounds=str(PHOTOS / "foregrounds"), depth="none")).job
    pictures = Pictures(job.backgrounds, job.foregrounds, job.size)
    for fg_id in range(4):
        mip = pictures.foreground_for(fg_id, 160, True)
        for w, h in ((37, 53), (mip.width, mip.height), (mip.width - 1, mip.height), (5, 5), (150, 158)):
            want = resize_bands(np.asarray(mip.convert("RGBa")), w, h)
            got = pictures.premultiplied_cutout(fg_id, 160, True, w, h)
            assert got.mode == "RGBa" and np.array_equal(np.asarray(got), want), (w, h)
            cut, silhouette = pictures.pasteable(fg_id, 160, True, w, h)
            assert np.array_equal(np.asarray(cut), want) and np.array_equal(silhouette.opaque > 0, want[..., 3] > 0)


def test_planar_units_from_masks_equal_quantised_predictions():
    from fgbg_depth.depth.planar import PlanarDepth
    from fgbg_depth.contract import depth_quantum_for, depth_scale_for, quantize_depth
    planar = PlanarDepth()
    scale = depth_scale_for(10.0)
    quantum = depth_quantum_for(scale)
    rng = np.random.default_rng(2)
    masks = np.zeros((4, 64, 64), np.uint8)
    masks[0, 30:50, 10:20] = 255  # one object
    masks[1, 5:60, 40:63] = 255
    masks[2, 10:40, 5:30], masks[2, 20:62, 25:50] = 1, 2  # an instance map
    masks[2, 50:55, 3:6] = 3
    # masks[3] empty: ground only
    images = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    want = np.stack([quantize_depth(m, scale, quantum) for m in planar.predict(images, masks)])
    assert np.array_equal(planar.units_from_masks(masks, scale, quantum), want)


@pytest.mark.parametrize("vecdot", [True, False], ids=["numpy2", "numpy1"])
def test_fast_sums_equal_plain_ones(vecdot, monkeypatch):
    if not vecdot:  # NumPy before 2.0 has no vecdot: a dot per row
        monkeypatch.delattr(np, "vecdot", raising=False)
    rng = np.random.default_rng(3)
    rgbx = rng.integers(0, 256, (5, 31, 47, 4), dtype=np.uint8)
    a, b = np.zeros((3, 256), np.int64), np.zeros((3, 256), np.int64)
    for picture in rgbx:
        stats.add_histogram(a, picture[..., :3])
    stats.add_rgbx_histogram(b, rgbx)
    assert np.array_equal(a, b)
    for shape in ((160, 160), (4, 60, 70), (3, 160, 200)):  # within one run of float64 sums; over several
        depth = rng.integers(0, 65536, shape, dtype=np.uint16)
        depth[..., ::7, :] = 0
        depth[..., :4, :4] = 65535  # the largest squares
        acc = stats.empty(1)
        stats.add_depth(acc, depth)
        flat = [int(v) for v in depth.ravel()]
        assert acc["count"] == sum(v > 0 for v in flat)
        assert acc["sum"][0] == sum(flat) and acc["sumsq"][0] == sum(v * v for v in flat)
    assert 60 * 70 * 4 < stats.DEPTH_RUN < 3 * 160 * 200 and stats.DEPTH_RUN <= stats.EXACT_IN_FLOAT64
    assert stats.DOT_RUN < 160 * 160 and stats.DOT_RUN <= 10_000  # runs of several dots; none threaded


def paste_patch(canvas: np.ndarray, rgba: np.ndarray, x: int, y: int, coverage: np.ndarray | None = None) -> None:
    """compose.paste in place, for patches that may reach past the frame (a feathered or smeared
    cut-out): the part of `rgba` inside the frame is alpha-blended onto `canvas` with the same
    integer rounding. `coverage` (uint8, if given) accumulates the weight the objects got,
    composited the same way: c ← a + c·(1 − a). The definition of what scene.compose_scene does
    with Pillow's paste."""
    height, width = canvas.shape[:2]
    h, w = rgba.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x0 >= x1 or y0 >= y1:
        return
    part = rgba[y0 - y:y1 - y, x0 - x:x1 - x]
    alpha = part[..., 3:4].astype(np.uint16)
    region = canvas[y0:y1, x0:x1].astype(np.uint16)
    canvas[y0:y1, x0:x1] = ((part[..., :3] * alpha + region * (255 - alpha) + 127) // 255).astype(np.uint8)
    if coverage is not None:
        covered = coverage[y0:y1, x0:x1].astype(np.uint16)
        a = alpha[..., 0]
        coverage[y0:y1, x0:x1] = ((a * 255 + covered * (255 - a) + 127) // 255).astype(np.uint8)


def test_pillows_clipped_paste_and_coverage_equal_paste_patch():
    """What scene.compose_scene does with Pillow equals paste_patch, its definition, for patches
    anywhere, partly outside the frame included."""
    rng = np.random.default_rng(4)
    for _ in range(300):
        canvas = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        coverage = rng.integers(0, 256, (40, 40), dtype=np.uint8)
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        patch = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        x, y = (int(v) for v in rng.integers(-20, 45, 2))
        want, want_coverage = canvas.copy(), coverage.copy()
        paste_patch(want, patch, x, y, want_coverage)
        got, got_coverage, layer = Image.fromarray(canvas), Image.fromarray(coverage), Image.fromarray(patch, "RGBA")
        got.paste(layer, (x, y), layer)
        got_coverage.paste(255, (x, y, x + w, y + h), layer.getchannel("A"))
        assert np.array_equal(np.asarray(got), want) and np.array_equal(np.asarray(got_coverage), want_coverage)
