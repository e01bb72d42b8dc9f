"""resample.py: the wheel (fast_image_resize) and the NumPy form give the same bytes, at every size,
up and down, whatever SIMD the CPU offers; bands are resized each on its own."""

import numpy as np
import pytest
from PIL import Image

from fgbg_depth import resample
from fgbg_depth.resample import Resampler, resize_bands

needs_wheel = pytest.mark.skipif(resample.cykooz_resizer is None, reason="no cykooz-resizer wheel on this platform")


def _cases(n, seed):
    """Random 4-band pictures (noise, and smooth ones, as photographs are) and target sizes, from
    1 px to about twice the picture and down to a tenth of it."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        src_h, src_w = (int(v) for v in rng.integers(1, 240, 2))
        w, h = (int(v) for v in rng.integers(1, 420, 2))
        pixels = rng.integers(0, 256, (src_h, src_w, 4), dtype=np.uint8)
        if i % 2:
            pixels = np.asarray(Image.fromarray(pixels[:6, :6], "RGBA").resize((src_w, src_h), Image.Resampling.BICUBIC))
        yield pixels, w, h


@needs_wheel
def test_the_wheel_and_the_numpy_form_give_the_same_bytes():
    fast, plain = Resampler(), Resampler(fast=False)
    for i, (pixels, w, h) in enumerate(_cases(150, 0)):
        for mode in resample.MODES:
            image = Image.frombytes(mode, pixels.shape[1::-1], pixels.tobytes())
            # each input labelled as it comes, and also brought out under the other label
            out = mode if i % 3 else resample.MODES[1 - resample.MODES.index(mode)]
            got, want = fast.resize(image, w, h, mode=out), plain.resize(image, w, h, mode=out)
            assert got.mode == want.mode == out and got.size == want.size == (w, h)
            assert np.array_equal(np.asarray(got), np.asarray(want)), (pixels.shape, w, h, mode)
        assert np.array_equal(np.asarray(want), resize_bands(pixels, w, h))


@needs_wheel
def test_every_simd_path_of_the_wheel_gives_the_same_bytes():
    """fast_image_resize picks SSE4.1, AVX2 or NEON at run time; a dataset must not depend on which."""
    from cykooz_resizer import CpuExtensions
    paths = []
    for ext in CpuExtensions:
        r = Resampler()
        try:
            r._fast.cpu_extensions = ext
        except Exception:  # not on this CPU (NEON on x86, AVX2 on an old one)
            continue
        if r._fast.cpu_extensions == ext:
            paths.append(r)
    assert len(paths) >= 2 or resample.cykooz_resizer is None
    for pixels, w, h in _cases(60, 1):
        image = Image.frombytes("RGBa", pixels.shape[1::-1], pixels.tobytes())
        outs = [np.asarray(r.resize(image, w, h)) for r in paths]
        assert all(np.array_equal(outs[0], o) for o in outs[1:]), (pixels.shape, w, h)


def test_bands_are_resized_each_on_its_own():
    """No premultiplying, no mixing: a 4-band resize is its bands resized apart (the bled colours
    and the alpha of a scene's cut-out come out of one resize)."""
    for pixels, w, h in _cases(40, 2):
        whole = resize_bands(pixels, w, h)
        for band in range(4):
            alone = resize_bands(np.ascontiguousarray(pixels[..., band:band + 1]), w, h)
            assert np.array_equal(whole[..., band], alone[..., 0])


def test_the_triangle_filter_on_known_values():
    """Fixed cases worked by hand: doubling a 2-px row, halving a 4-px one, and a flat picture stays flat."""
    row = np.array([[[0, 0, 0, 0], [200, 100, 40, 255]]], np.uint8)
    # up by 2: centres at 0.25, 0.75, 1.25, 1.75 → weights (1, 0), (.75, .25), (.25, .75), (0, 1) after clipping
    assert resize_bands(row, 4, 1)[0, :, 0].tolist() == [0, 50, 150, 200]
    four = np.array([[[v] * 4 for v in (0, 40, 80, 120)]], np.uint8)
    # down by 2: the triangle widened to 2 px each side of the centres 1.0 and 3.0 (pixel centres at
    # x + 0.5) weighs pixels 0-2 by (3, 3, 1)/7 and pixels 1-3 by (1, 3, 3)/7, the edge cutting the rest
    assert resize_bands(four, 2, 1)[0, :, 0].tolist() == [round((0 * 3 + 40 * 3 + 80) / 7), round((40 + 80 * 3 + 120 * 3) / 7)]
    flat = np.full((17, 23, 4), 77, np.uint8)
    assert (resize_bands(flat, 40, 9) == 77).all() and (resize_bands(flat, 5, 31) == 77).all()


def test_the_resizer_is_on_the_card_but_not_a_reason_to_doubt_a_rebuild():
    """The card names what resized (the wheel or the NumPy form); they give the same bytes, so a
    rebuild where the other one runs is not warned about it."""
    from fgbg_depth.finalize import versions
    from fgbg_depth.rebuild import version_differences
    here = versions()
    assert here["resize"] == resample.describe()
    assert version_differences({**here, "resize": "something else"}) == []
    assert version_differences({**here, "pillow": "0.0"}) == [f"pillow 0.0 in the card, {here['pillow']} here"]


def test_only_four_band_modes_and_a_copy_at_the_same_size():
    r = Resampler()
    with pytest.raises(ValueError):
        r.resize(Image.new("RGBA", (4, 4)), 2, 2)  # straight colours would be premultiplied by the wheel
    image = Image.new("RGBa", (6, 5), (10, 20, 30, 40))
    same = r.resize(image, 6, 5)
    assert same is not image and same.tobytes() == image.tobytes()
    relabelled = r.resize(image, 6, 5, mode="RGBX")  # the same bytes under the other label
    assert relabelled.mode == "RGBX" and relabelled.tobytes() == image.tobytes()
    with pytest.raises(ValueError):
        r.resize(image, 3, 3, mode="RGBA")


@pytest.mark.parametrize("fast", [True, False])
def test_resized_pixels_are_the_pictures_own_memory(fast):
    """resize_pixels hands the picture and an array that is its memory, not a copy (what the
    compositing reads a cut-out's mask from): the same bytes as the picture, and a change to the
    array is a change to the picture; in every mode, resized or at its own size, both resizers."""
    r = Resampler(fast=fast)
    for pixels, w, h in _cases(12, 3):
        for mode, out in (("RGBa", "RGBa"), ("RGBa", "RGBX"), ("RGBX", "RGBa")):
            image = Image.frombytes(mode, pixels.shape[1::-1], pixels.tobytes())
            for size in ((w, h), image.size):
                picture, array = r.resize_pixels(image, *size, mode=out)
                assert picture.mode == out and picture.size == size and array.shape == (size[1], size[0], 4)
                assert np.array_equal(np.asarray(picture), array)
                assert np.array_equal(array, np.asarray(r.resize(image, *size, mode=out)))
                array[0, 0] = (1, 2, 3, 4)
                assert picture.getpixel((0, 0)) == (1, 2, 3, 4)
                assert image.tobytes() == pixels.tobytes()  # the source untouched
