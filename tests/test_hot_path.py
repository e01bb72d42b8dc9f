"""The hot path's fast forms give exactly what the plain forms give (so no byte of any dataset
moved when they replaced them), and a run on photo-like inputs still writes the pinned bytes."""

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli
from fgbg_depth import stats
from fgbg_depth.compose import SAMPLE_RESAMPLE, paste, paste_image
from test_generate import shard_hashes

PHOTOS = ROOT / "bench" / "photos"
# written by the code before the hot path was made faster (Pillow 13.0.0, simplejpeg 1.9.0, pyarrow 26.0.1)
PINNED_PHOTOS = {"test-00000-of-00001.parquet": "16ceb8a829666c79b8c096a3a0f6c20a4982500efe2b83d6588438b5c209889a",
                 "train-00000-of-00002.parquet": "c49cf64b9b702ee81a446a57064b4efc718d24f6d193f6eda2e553b153669b5a",
                 "train-00001-of-00002.parquet": "adf62f09189e09d5cb9a553304961b6f8d6cce67fd3ca23cc809038c07295c43"}


@pytest.mark.slow
def test_photo_inputs_write_the_pinned_bytes(tmp_path):
    out = tmp_path / "out"
    res = run_cli("generate", "--out", out, "--backgrounds", PHOTOS / "backgrounds", "--foregrounds",
                  PHOTOS / "foregrounds", "--placements", "1", "--size", "96", "--depth", "planar",
                  "--shard-rows", "80", "--workers", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    assert shard_hashes(out) == PINNED_PHOTOS
    assert run_cli("verify", out).returncode == 0


def test_pillows_paste_rounds_exactly_as_ours_for_every_input():
    """Every (object value, background value, alpha): 256³ cases in one 256 × 65536 picture."""
    alpha = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 65536, axis=1)
    fg = np.tile(np.repeat(np.arange(256, dtype=np.uint8), 256), (256, 1))
    bg = np.tile(np.tile(np.arange(256, dtype=np.uint8), 256), (256, 1))
    cutout = np.dstack([fg, 255 - fg, fg, alpha])
    background = np.dstack([bg, bg, 255 - bg])
    ours, mask = paste(background, cutout, 0, 0)
    pillow, pillow_mask = paste_image(Image.fromarray(background, "RGB"), Image.fromarray(cutout, "RGBA"), 0, 0)
    assert np.array_equal(pillow, ours) and np.array_equal(pillow_mask, mask)


def test_placed_off_the_corner_too():
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    cutout = rng.integers(0, 256, (13, 17, 4), dtype=np.uint8)
    ours, mask = paste(background, cutout, 30, 21)
    pillow, pillow_mask = paste_image(Image.fromarray(background), Image.fromarray(cutout, "RGBA"), 30, 21)
    assert np.array_equal(pillow, ours) and np.array_equal(pillow_mask, mask)
    assert paste_image(Image.fromarray(background), Image.fromarray(cutout, "RGBA"), 30, 21, with_mask=False)[1] is None


def test_the_cached_premultiplied_resize_is_pillows_resize(tmp_path):
    from fgbg_depth.generate import GenerateOptions, prepare
    from fgbg_depth.stages.pictures import Pictures
    job = prepare(GenerateOptions(out=str(tmp_path), backgrounds=str(PHOTOS / "backgrounds"),
                                  foregrounds=str(PHOTOS / "foregrounds"), depth="none")).job
    pictures = Pictures(job.backgrounds, job.foregrounds, job.size)
    for fg_id in range(4):
        mip = pictures.foreground_for(fg_id, 160, True)
        for w, h in ((37, 53), (mip.width, mip.height), (mip.width - 1, mip.height), (5, 5)):
            want = mip.resize((w, h), SAMPLE_RESAMPLE)
            assert np.array_equal(np.asarray(pictures.cutout(fg_id, 160, True, w, h)), np.asarray(want)), (w, h)


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


def test_fast_sums_equal_plain_ones():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (31, 47, 3), dtype=np.uint8)
    a, b = np.zeros((3, 256), np.int64), np.zeros((3, 256), np.int64)
    stats.add_histogram(a, rgb)
    stats.add_rgb_histogram(b, rgb)
    assert np.array_equal(a, b)
    for side in (160, 1500):  # float64 sums below the exact limit, int64 above it
        depth = rng.integers(0, 65536, (side, side), dtype=np.uint16)
        depth[::7] = 0
        acc = stats.empty(1)
        stats.add_depth(acc, depth)
        flat = [int(v) for v in depth.ravel()]
        assert acc["count"] == sum(v > 0 for v in flat)
        assert acc["sum"][0] == sum(flat) and acc["sumsq"][0] == sum(v * v for v in flat)
    assert 160 * 160 <= stats.EXACT_IN_FLOAT64 < 1500 * 1500


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


def test_one_rgbx_resize_is_the_rgb_and_the_alpha_resized_apart():
    """Pictures.scene_cutout resizes bled colours and alpha as one RGBX picture: Pillow resizes its
    bands on their own (no premultiplying), with the weights of RGB and of L."""
    from fgbg_depth.compose import SAMPLE_RESAMPLE
    rng = np.random.default_rng(5)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(2, 90, 2))
        rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        alpha = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L")
        size = tuple(int(v) for v in rng.integers(1, 120, 2))
        got = np.asarray(Image.merge("RGBX", (*rgb.split(), alpha)).resize(size, SAMPLE_RESAMPLE))
        assert np.array_equal(got[..., :3], np.asarray(rgb.resize(size, SAMPLE_RESAMPLE)))
        assert np.array_equal(got[..., 3], np.asarray(alpha.resize(size, SAMPLE_RESAMPLE)))
