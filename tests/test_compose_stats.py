import numpy as np
from PIL import Image

from fgbg_depth import stats
from fgbg_depth.compose import fit_background, paste, reduce_foreground
from fgbg_depth.depth import get_backend
from fgbg_depth.contract import quantize_depth


def test_paste_is_the_over_operator_and_masks_alpha_above_zero():
    bg = np.full((10, 10, 3), 100, np.uint8)
    fg = np.zeros((4, 3, 4), np.uint8)
    fg[..., 3] = [[0, 255, 128]] * 4
    fg[..., :3] = np.round(200 * fg[..., 3:].astype(int) / 255).astype(np.uint8)  # premultiplied: 200 at full weight
    out, mask = paste(bg, fg, x=2, y=5)
    assert out.shape == bg.shape and out.dtype == np.uint8
    assert (out[5:9, 2] == 100).all() and (out[5:9, 3] == 200).all()
    assert (out[5:9, 4] == round(100 * 127 / 255) + round(200 * 128 / 255)).all()
    expected = np.zeros((10, 10), np.uint8)
    expected[5:9, 3:5] = 255
    assert np.array_equal(mask, expected)
    assert (out[:5] == 100).all()  # untouched outside the box


def test_fit_background_crops_centre_square():
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, 10:30] = 255  # the centre square is white
    out = fit_background(Image.fromarray(arr), 8)
    assert out.shape == (8, 8, 3) and out.min() >= 250


def test_reduce_foreground_flips():
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[:, 0] = (255, 0, 0, 255)
    out = np.asarray(reduce_foreground(Image.fromarray(arr), 160, flip=True))
    assert out[0, 3, 3] == 255 and out[0, 0, 3] == 0


def test_reduce_foreground_fits_the_frame_and_keeps_aspect():
    im = Image.new("RGBA", (400, 200))
    small = reduce_foreground(im, 160, flip=False)
    assert small.size == (160, 80)
    assert reduce_foreground(Image.new("RGBA", (100, 50)), 160, flip=False).size == (100, 50)


def test_stats_merge_is_exact_and_matches_numpy():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) for _ in range(6)]
    whole, a, b = (np.zeros((3, 256), np.int64) for _ in range(3))
    for i, im in enumerate(images):
        stats.add_histogram(whole, im)
        stats.add_histogram(a if i < 2 else b, im)
    whole, a, b = (stats.from_histogram(h) for h in (whole, a, b))
    assert stats.merge(a, b) == whole
    assert stats.merge(b, a) == whole
    got = stats.finalize(whole, 1 / 255)
    ref = np.stack(images).reshape(-1, 3) / 255
    np.testing.assert_allclose(got["mean"], ref.mean(0), atol=1e-12)
    np.testing.assert_allclose(got["std"], ref.std(0), atol=1e-12)


def test_stats_weight_and_zero_skipping():
    hist = np.zeros((1, 256), np.int64)
    stats.add_histogram(hist, np.array([[0, 2], [4, 0]], np.uint8), weight=3)
    assert stats.from_histogram(hist) == {"count": 12, "sum": [18], "sumsq": [60]}
    acc = stats.empty(1)
    stats.add_depth(acc, np.array([[0, 2], [4, 0]], np.uint16))
    stats.add_depth(acc, np.array([[7]], np.uint16))
    assert acc == {"count": 3, "sum": [13], "sumsq": [69]}


def test_planar_depth_ground_and_object():
    planar = get_backend("planar")
    img = np.zeros((2, 20, 20, 3), np.uint8)
    masks = np.zeros((2, 20, 20), np.uint8)
    masks[1, 10:15, 5:9] = 255
    d = planar.predict(img, masks)
    assert d.shape == (2, 20, 20) and d.dtype == np.float32
    col = d[0, :, 0]
    assert (np.diff(col[9:]) < 0).all()  # nearer toward the bottom
    assert (col[:8] == 10.0).all()  # sky and far wall at the range limit
    assert np.allclose(d[1][masks[1] > 0], planar.ground(20)[14])  # stands on its lowest row
    assert np.array_equal(d[1][masks[1] == 0], d[0][masks[1] == 0])


def test_quantize_depth_marks_unknown_as_zero():
    q = quantize_depth(np.array([0.0, -1.0, np.nan, 10.0, 0.1, 1e-6], np.float32), 10 / 65535)
    assert q.dtype == np.uint16
    assert q.tolist()[:3] == [0, 0, 0] and q[3] == 65472 and q[4] == 640 and q[5] == 64
    assert (q % 64 == 0).all()
    exact = quantize_depth(np.array([0.1], np.float32), 10 / 65535, quantum=1)
    assert abs(int(exact[0]) - 655) <= 1


def test_grey_png_round_trips():
    import io

    from fgbg_depth.codecs import decode_jpeg, encode_jpeg, encode_png_gray
    rng = np.random.default_rng(1)
    for arr in (rng.integers(0, 65536, (17, 23), dtype=np.uint16), rng.integers(0, 256, (9, 31), dtype=np.uint8)):
        im = Image.open(io.BytesIO(encode_png_gray(arr)))
        assert im.format == "PNG" and np.array_equal(np.asarray(im), arr)
    rgb = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    data = encode_jpeg(rgb)
    assert np.array_equal(decode_jpeg(data), np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
