"""The numerical core of `fgbg-depth cutout`: the ONNX matting wrapper, the checks of its probabilities,
the foreground colour estimate and the RGBA crop."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from onnx_models import IMAGENET_MEAN, IMAGENET_STD, MISFITS, colour_key_model  # noqa: E402

from fgbg_depth.cutout.checks import CHECK_NAMES, CheckThresholds, check_probabilities, count_pieces
from fgbg_depth.cutout.colour import box_mean, cutout_rgba, estimate_foreground
from fgbg_depth.cutout.matting import OnnxMatting
from fgbg_depth.errors import FgBgError

KEY, THRESHOLD, GAIN = (0, 255, 0), 60.0, 0.1  # colour_key_model's defaults


# -- references, in float64 -----------------------------------------------------------------------------

def sigmoid64(x):
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def resized(rgb, size, resample=Image.Resampling.BILINEAR):
    h, w = size
    return np.asarray(Image.fromarray(rgb).resize((w, h), resample))


def reference_input(rgb, size, mean=IMAGENET_MEAN, std=IMAGENET_STD, resample=Image.Resampling.BILINEAR):
    x = resized(rgb, size, resample).astype(np.float64) / 255.0
    return ((x - np.asarray(mean)) / np.asarray(std)).transpose(2, 0, 1)


def reference_probabilities(logits, size):
    prob = sigmoid64(logits).astype(np.float32)
    h, w = size
    prob = np.asarray(Image.fromarray(prob).resize((w, h), Image.Resampling.BILINEAR), np.float64)
    return np.clip(prob, 0.0, 1.0)


def colour_key_logits(pixels):
    """The chroma key of onnx_models.colour_key_model, on 0..255 pixels H×W×3."""
    distance = np.sqrt(((np.asarray(pixels, np.float64) - np.asarray(KEY, np.float64)) ** 2).sum(axis=-1))
    return GAIN * (distance - THRESHOLD)


def keyed_picture(seed, size=(32, 32)):
    """A green wall with a red square, a grey bar, a green-to-blue ramp and a patch of noise."""
    h, w = size
    rng = np.random.default_rng(seed)
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:] = KEY
    rgb[4:14, 3 + seed:13 + seed] = (200, 30, 30)
    rgb[18:22, :] = (128, 128, 128)
    ramp = np.linspace(0, 1, w)[:, None]
    rgb[24:27] = np.rint((1 - ramp) * np.asarray(KEY) + ramp * np.asarray((0, 0, 255))).astype(np.uint8)
    rgb[28:, w // 2:] = rng.integers(0, 256, (h - 28, w - w // 2, 3))
    return rgb


# -- the ONNX matting wrapper --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return {
        "free": colour_key_model(folder / "free.onnx"),
        "fixed1": colour_key_model(folder / "fixed1.onnx", batch=1),
        "fixed2": colour_key_model(folder / "fixed2.onnx", batch=2),
        "any_size": colour_key_model(folder / "any_size.onnx", size=None, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0)),
        "folder": folder,
    }


def record_batches(monkeypatch, matting):
    sizes = []
    run = matting._session.run

    def recording_run(names, feed):
        sizes.append(len(next(iter(feed.values()))))
        return run(names, feed)

    monkeypatch.setattr(matting._session, "run", recording_run)
    return sizes


def test_preprocess_equals_numpy_reference(models):
    matting = OnnxMatting(models["free"])
    assert matting.input_size == (32, 32)
    photo = np.random.default_rng(1).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    got = matting.preprocess(photo)
    assert got.dtype == np.float32 and got.shape == (3, 32, 32)
    np.testing.assert_allclose(got, reference_input(photo, (32, 32)), rtol=0, atol=1e-5)


def test_preprocess_follows_the_preprocessor_config(models):
    config = {"size": {"height": 24, "width": 20}, "resample": 3, "image_mean": [0.5, 0.5, 0.5],
              "image_std": [0.25, 0.5, 1.0], "image_processor_type": "ignored"}
    matting = OnnxMatting(models["any_size"], config)
    assert matting.input_size == (24, 20)
    photo = np.random.default_rng(2).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    expected = reference_input(photo, (24, 20), (0.5, 0.5, 0.5), (0.25, 0.5, 1.0), Image.Resampling.BICUBIC)
    np.testing.assert_allclose(matting.preprocess(photo), expected, rtol=0, atol=1e-5)

    raw = OnnxMatting(models["any_size"], {**config, "do_rescale": False, "do_normalize": False, "resample": 0})
    expected = resized(photo, (24, 20), Image.Resampling.NEAREST).astype(np.float64).transpose(2, 0, 1)
    np.testing.assert_allclose(raw.preprocess(photo), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("config", [{"size": {"height": 0, "width": 8}}, {"size": {"shortest_edge": 8}},
                                    {"image_std": [0.2, 0, 0.2]}, {"image_mean": [0.5]}, {"resample": 9},
                                    {"rescale_factor": -1}])
def test_bad_preprocessor_config_is_one_line(models, config):
    with pytest.raises(FgBgError) as caught:
        OnnxMatting(models["free"], config)
    assert "\n" not in str(caught.value) and "preprocessor config" in str(caught.value)


def test_restore_equals_numpy_reference(models):
    matting = OnnxMatting(models["free"])
    logits = (np.random.default_rng(3).standard_normal((32, 32)) * 8).astype(np.float32)
    logits[0, :4] = (-1e4, 1e4, -88.0, 89.0)  # exp overflows float32 beyond ±88
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for size in ((32, 32), (45, 70), (20, 17)):
            got = matting.restore(logits, size)
            assert got.dtype == np.float32 and got.shape == size
            np.testing.assert_allclose(got, reference_probabilities(logits, size), rtol=0, atol=1e-5)
    # no stretching: a photo with nothing in it stays near 0
    assert matting.restore(np.full((32, 32), -12, np.float32), (45, 70)).max() < 1e-5


@pytest.mark.parametrize("size", [(32, 32), (45, 70)])
def test_predict_gives_the_colour_key(models, monkeypatch, size):
    photos = np.stack([keyed_picture(seed) if size == (32, 32) else resized(keyed_picture(seed), size)
                       for seed in range(5)])
    expected = np.stack([reference_probabilities(colour_key_logits(resized(p, (32, 32))), size) for p in photos])
    assert expected.min() < 0.01 and expected.max() > 0.99  # both wall and object in the pictures

    free = OnnxMatting(models["free"], batch_size=2)
    free_batches = record_batches(monkeypatch, free)
    got = free.predict(photos)
    assert got.dtype == np.float32 and got.shape == (5, *size)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert free_batches == [2, 2, 1]

    fixed = OnnxMatting(models["fixed1"], batch_size=4)
    assert fixed.batch_size == 1
    fixed_batches = record_batches(monkeypatch, fixed)
    np.testing.assert_allclose(fixed.predict(photos), got, rtol=0, atol=1e-6)
    assert fixed_batches == [1] * 5

    two = OnnxMatting(models["fixed2"])
    two_batches = record_batches(monkeypatch, two)
    np.testing.assert_allclose(two.predict(photos[:3]), got[:3], rtol=0, atol=1e-6)
    assert two_batches == [2, 2]  # the last picture padded to the fixed batch


def test_predict_on_a_model_of_free_size_uses_the_preprocessor_size(models):
    config = {"size": {"height": 24, "width": 20}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.5, 1.0]}
    matting = OnnxMatting(models["any_size"], config)
    photos = np.stack([resized(keyed_picture(seed), (45, 70)) for seed in range(2)])
    expected = np.stack([reference_probabilities(colour_key_logits(resized(p, (24, 20))), (45, 70)) for p in photos])
    np.testing.assert_allclose(matting.predict(photos), expected, rtol=0, atol=1e-5)


def test_describe_and_provider(models):
    info = {"model": "onnx-community/BiRefNet_lite-ONNX", "revision": "abc123", "weights_sha256": "f" * 64,
            "licence": "mit"}
    matting = OnnxMatting(models["free"], info=info)
    assert matting.provider == "CPUExecutionProvider"
    assert matting.batch_size == 1  # the CPU default
    described = matting.describe()
    assert described == {"backend": "onnx", "file": "free.onnx", "input_size": [32, 32], "input": "input_image",
                         "output": "output_image", "batch": "free", "provider": "CPUExecutionProvider",
                         "onnxruntime": described["onnxruntime"], **info}
    import onnxruntime
    assert described["onnxruntime"] == onnxruntime.__version__
    assert OnnxMatting(models["fixed1"]).describe()["batch"] == 1
    json.dumps(described)


def test_cuda_without_cuda_is_one_line(models, monkeypatch):
    with pytest.raises(FgBgError) as caught:
        OnnxMatting(models["free"], device="cuda")
    assert "\n" not in str(caught.value) and "cutout-gpu" in str(caught.value)
    with pytest.raises(FgBgError, match="device must be one of"):
        OnnxMatting(models["free"], device="tpu")

    # onnxruntime-gpu lists CUDA even where its libraries are missing, then quietly runs on the CPU
    import onnxruntime
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Specified provider 'CUDAExecutionProvider' is not in available ..."
        assert OnnxMatting(models["free"]).provider == "CPUExecutionProvider"
        with pytest.raises(FgBgError) as caught:
            OnnxMatting(models["free"], device="cuda")
    assert "\n" not in str(caught.value) and "fell back to the CPU" in str(caught.value)


def test_missing_onnxruntime_is_one_line(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(FgBgError) as caught:
        OnnxMatting(models["free"])
    assert "\n" not in str(caught.value) and "pip install 'fgbg-depth[cutout]'" in str(caught.value)


def test_the_modules_import_without_the_extras():
    code = ("import sys; import fgbg_depth.cutout.matting, fgbg_depth.cutout.checks, fgbg_depth.cutout.colour; "
            "print(sorted({'onnxruntime', 'onnx', 'scipy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", list(MISFITS))
def test_misfit_models_are_refused_naming_what_was_found(models, name):
    build, expected_parts = MISFITS[name]
    path = build(models["folder"] / f"{name.replace(' ', '_')}.onnx")
    with pytest.raises(FgBgError) as caught:
        OnnxMatting(path)
    message = str(caught.value)
    assert "\n" not in message and "does not fit" in message
    for part in expected_parts:
        assert part in message


def test_unreadable_model_files_are_one_line(models, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(models["free"].read_bytes()[:100])
    for path in (broken, tmp_path / "missing.onnx"):
        with pytest.raises(FgBgError) as caught:
            OnnxMatting(path)
        assert "\n" not in str(caught.value) and path.name in str(caught.value)
    with pytest.raises(FgBgError, match="batch size"):
        OnnxMatting(models["free"], batch_size=0)


# -- checks ---------------------------------------------------------------------------------------------

def disc(shape, centre, radius, soft=3.0):
    """A disc of probability 1 with a linear ramp `soft` pixels wide around p = 0.5 at `radius`."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    distance = np.hypot(yy - centre[0], xx - centre[1])
    return np.clip((radius - distance) / soft + 0.5, 0, 1).astype(np.float32)


SHAPE = (120, 160)
CLEAN = disc(SHAPE, (60, 80), 35)
BAD_MAPS = {
    "empty": np.zeros(SHAPE, np.float32),
    "empty, tiny": disc(SHAPE, (60, 80), 3),
    "empty, all unsure": np.full(SHAPE, 0.3, np.float32),
    "whole_frame": np.pad(np.full((118, 158), 0.99, np.float32), 1),
    "touches_edge": disc(SHAPE, (110, 80), 30),
    "pieces": np.maximum(disc(SHAPE, (60, 45), 25), disc(SHAPE, (60, 115), 25)),
    "unsure": disc(SHAPE, (60, 80), 35, soft=30),
}


def test_a_clean_centred_object_passes_every_check():
    figures, flags = check_probabilities(CLEAN)
    assert flags == []
    assert figures["pieces"] == 1 and figures["edge_share"] == 0.0
    assert 0.15 < figures["object_share"] < 0.25 and 0 < figures["unsure_share"] < 0.3
    # a speck beside the object is not a second piece
    figures, flags = check_probabilities(np.maximum(CLEAN, disc(SHAPE, (15, 20), 3)))
    assert flags == [] and figures["pieces"] == 1


@pytest.mark.parametrize("name", list(BAD_MAPS))
def test_each_bad_map_gets_exactly_its_flag(name):
    figures, flags = check_probabilities(BAD_MAPS[name])
    assert flags == [name.split(",")[0]], figures
    assert list(figures) == ["object_share", "edge_share", "pieces", "unsure_share"]
    for value in figures.values():
        assert value is None or type(value) in (int, float)
    json.dumps(figures)
    if name == "empty":
        assert figures == {"object_share": 0.0, "edge_share": 0.0, "pieces": 0, "unsure_share": None}


def test_thresholds_move_the_verdict():
    assert check_probabilities(CLEAN, CheckThresholds(empty_below=0.5))[1] == ["empty"]
    assert check_probabilities(CLEAN, CheckThresholds(whole_frame_above=0.1))[1] == ["whole_frame"]
    assert check_probabilities(CLEAN, CheckThresholds(unsure_above=0.01))[1] == ["unsure"]
    assert check_probabilities(BAD_MAPS["touches_edge"], CheckThresholds(edge_above=0.5))[1] == []
    assert check_probabilities(BAD_MAPS["pieces"], CheckThresholds(piece_min_share=0.6))[1] == []
    assert check_probabilities(BAD_MAPS["pieces"], CheckThresholds(pieces_above=2))[1] == []
    assert check_probabilities(BAD_MAPS["unsure"], CheckThresholds(unsure_above=5.0))[1] == []
    assert check_probabilities(BAD_MAPS["unsure"], CheckThresholds(unsure_low=0.45, unsure_high=0.55))[1] == []
    assert check_probabilities(BAD_MAPS["empty, tiny"], CheckThresholds(empty_below=0.0001))[1] != ["empty"]


def test_flags_come_in_a_fixed_order():
    everything_wrong = np.pad(np.full((118, 158), 0.6, np.float32), 1)
    everything_wrong[0, :] = 0.95  # along the top edge
    everything_wrong[:, 79:81] = 0.0  # cut in two
    figures, flags = check_probabilities(everything_wrong, CheckThresholds(whole_frame_above=0.5))
    assert flags == [n for n in CHECK_NAMES if n != "empty"], figures


@pytest.mark.parametrize("bad", [{"edge_above": 2}, {"empty_below": -0.1}, {"pieces_above": 0},
                                 {"unsure_above": -1}, {"unsure_low": 0.9, "unsure_high": 0.1}])
def test_bad_thresholds_are_one_line(bad):
    with pytest.raises(FgBgError):
        CheckThresholds(**bad)


# -- colours ---------------------------------------------------------------------------------------------

def test_box_mean_equals_the_window_average_inside_the_frame():
    x = np.random.default_rng(4).random((9, 13)).astype(np.float32)
    for radius in (0, 1, 2, 5, 20):
        expected = np.array([[x[max(0, i - radius):i + radius + 1, max(0, j - radius):j + radius + 1].astype(np.float64)
                              .mean() for j in range(13)] for i in range(9)])
        np.testing.assert_allclose(box_mean(x, radius), expected, rtol=1e-6, atol=1e-7)
    sparse = np.zeros((40, 50), np.float32)
    sparse[:3, :3] = 1e-3
    assert np.all(box_mean(sparse, 6)[10:, :] == 0) and np.all(box_mean(sparse, 6)[:, 10:] == 0)


def soft_disc_on_green(size=200, ramp=30):
    """A red-and-grey disc with an alpha ramp `ramp` pixels wide, photographed against a green wall."""
    yy, xx = np.mgrid[0:size, 0:size]
    distance = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
    alpha = np.clip((size * 0.375 - distance) / ramp, 0, 1)
    colours = np.where((xx < size // 2)[..., None], np.array([200.0, 40, 40]), np.array([128.0, 128, 128]))
    wall = np.array([30.0, 200, 40])
    photo = np.rint(alpha[..., None] * colours + (1 - alpha[..., None]) * wall).astype(np.uint8)
    return photo, alpha.astype(np.float32)


def green_excess_on_white(colours, alpha):
    """G − (R + B)/2 of the colours pasted with `alpha` on white, where 0 < alpha < 1 (the fringe)."""
    a = alpha[..., None].astype(np.float64)
    pasted = a * colours + (1 - a) * 255.0
    excess = pasted[..., 1] - (pasted[..., 0] + pasted[..., 2]) / 2
    return excess[(alpha > 0) & (alpha < 1)]


def test_estimated_colours_leave_no_green_fringe():
    photo, alpha = soft_disc_on_green()
    estimated = estimate_foreground(photo, alpha)
    assert estimated.dtype == np.uint8 and estimated.shape == photo.shape
    assert np.array_equal(estimated[alpha >= 1], photo[alpha >= 1])
    fringe_estimated = green_excess_on_white(estimated, alpha)
    fringe_naive = green_excess_on_white(photo, alpha)
    print(f"green excess in the fringe on white: estimated max {fringe_estimated.max():.2f} mean "
          f"{fringe_estimated.mean():.2f}; photo colours max {fringe_naive.max():.2f} mean {fringe_naive.mean():.2f}")
    limit = 6.0  # levels of 255: a tint no one sees
    assert fringe_estimated.max() < limit
    assert fringe_naive.max() > 5 * limit  # the assertion above would catch the photo's own colours


def test_estimate_recovers_a_plain_object_on_a_plain_wall():
    """A model's edges are a few pixels wide: there the pasted estimate is within a level of the truth."""
    yy, xx = np.mgrid[0:200, 0:200]
    alpha = np.clip((75 - np.hypot(yy - 99.5, xx - 99.5)) / 4, 0, 1).astype(np.float32)
    colour, wall = np.array([200.0, 60, 90]), np.array([30.0, 200, 40])
    photo = np.rint(alpha[..., None] * colour + (1 - alpha[..., None]) * wall).astype(np.uint8)
    fringe = (alpha > 0) & (alpha < 1)
    pasted_error = (alpha[..., None] * np.abs(estimate_foreground(photo, alpha) - colour))[fringe]
    naive_error = (alpha[..., None] * np.abs(photo - colour))[fringe]
    assert pasted_error.max() < 1.5 and naive_error.mean() > 10


def test_estimate_keeps_opaque_pixels_and_fills_transparent_ones():
    rng = np.random.default_rng(5)
    photo = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    alpha = rng.choice(np.array([0, 0.25, 1], np.float32), (60, 80))
    estimated = estimate_foreground(photo, alpha)
    assert np.array_equal(estimated[alpha == 1], photo[alpha == 1])
    assert np.array_equal(estimate_foreground(photo, np.zeros((60, 80), np.float32)), photo)


def test_cutout_rgba_crops_to_the_object_with_a_margin():
    photo, alpha = soft_disc_on_green(size=200, ramp=10)
    photo = np.pad(photo, ((100, 150), (250, 60), (0, 0)), mode="edge")  # 450×510: the disc well inside
    prob = np.pad(alpha, ((100, 150), (250, 60)))
    alpha8 = np.rint(np.clip(prob, 0, 1) * 255).astype(np.uint8)
    ys, xs = np.nonzero(alpha8)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    pad = max(2, int(np.ceil(0.02 * max(x1 - x0, y1 - y0))))

    image, box = cutout_rgba(photo, prob)
    assert box == (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    assert image.mode == "RGBA" and image.size == (box[2] - box[0], box[3] - box[1])
    rgba = np.asarray(image)
    crop = (slice(box[1], box[3]), slice(box[0], box[2]))
    assert np.array_equal(rgba[..., 3], alpha8[crop])
    whole = estimate_foreground(photo, alpha8.astype(np.float32) / 255)
    assert np.abs(rgba[..., :3].astype(int) - whole[crop]).max() <= 1  # the estimate on a part = on the whole


def test_cutout_rgba_box_is_clipped_to_the_photo_and_none_when_empty():
    photo, alpha = soft_disc_on_green(size=100, ramp=5)
    _, box = cutout_rgba(photo[:, 40:], alpha[:, 40:])  # the disc cut by the left edge
    assert box[0] == 0 and box[2] <= 60
    assert cutout_rgba(photo, np.zeros(alpha.shape, np.float32)) is None
    assert cutout_rgba(photo, np.full(alpha.shape, 0.0015, np.float32)) is None  # rounds to alpha 0


@pytest.mark.slow
def test_twelve_megapixel_photo():
    h, w = 3000, 4000
    prob = np.maximum(disc((h, w), (1500, 1200), 700, soft=12), disc((h, w), (1500, 2900), 700, soft=12))
    figures, flags = check_probabilities(prob)
    assert flags == ["pieces"] and figures["pieces"] == 2
    assert count_pieces(prob, 0.05) == 2
    photo = np.random.default_rng(7).integers(0, 256, (h, w, 3), dtype=np.uint8)
    estimated = estimate_foreground(photo, prob)
    assert estimated.shape == (h, w, 3) and np.array_equal(estimated[prob >= 1], photo[prob >= 1])
