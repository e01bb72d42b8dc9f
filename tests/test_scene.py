"""Blend modes, the alpha column, and several objects with instance masks (--blend, --alpha,
--objects): all opt-in, with today's bytes unchanged by default."""

import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageFilter

from conftest import run_cli
from fgbg_depth.assets import default_foregrounds, open_foreground
from fgbg_depth.blend import MODES, draw_blend, feather, motion_blur, motion_offsets, poisson_recolour, solve_poisson
from fgbg_depth.compose import bleed_colours
from fgbg_depth.codecs import decode_jpeg
from fgbg_depth.compose import reduce_foreground
from fgbg_depth.resample import Resampler
from test_generate import shard_hashes

# What the default options write, as of compositing version 2 (compose.COMPOSE_VERSION: cut-outs resized
# by resample.py, pasted premultiplied), for the library builds below (a new Pillow, simplejpeg/
# libjpeg-turbo, zlib, pyarrow or cykooz-resizer build may change them: then check the change is theirs).
PINNED = {
    "bundled-planar": {"test-00000-of-00001.parquet": "b6111cfd8fcaf7cd36895a8de7bf4ca92f3b6fc1dd8d4a0bdebb4117d3dfd8d4",
                       "train-00000-of-00002.parquet": "3b8fdfffee2ec97fdf074445b5a5087406adc081259decc6b457586a71602871",
                       "train-00001-of-00002.parquet": "30501572a58c70f85ee5b90484110cfdd9987a2c8fbd7a263fe9f06649868711"},
    "written-none": {"test-00000-of-00001.parquet": "8f1dbd57e057e758224c22065656027531f6c2959dc751801e6298d5e5add84f",
                     "train-00000-of-00002.parquet": "cce045264d139e71a4928a75f87f44360d61e8d706feb2d64b46020c3db87257",
                     "train-00001-of-00002.parquet": "edfbffdaf2879543820e4aae3f53c92be716b000261f0a90ff4aaefbc15ffa5e"},
}
PINNED_BUILDS = "Pillow 13.0.0, simplejpeg 1.9.0, pyarrow 26.0.1, zlib 1.2.13, cykooz-resizer 4.0.1 (or NumPy: the same bytes)"


def _builds() -> str:
    import zlib

    import PIL
    import pyarrow
    import simplejpeg
    return f"Pillow {PIL.__version__}, simplejpeg {simplejpeg.__version__}, pyarrow {pyarrow.__version__}, zlib {zlib.ZLIB_RUNTIME_VERSION}"


@pytest.mark.parametrize("name", sorted(PINNED))
@pytest.mark.slow
def test_default_options_write_todays_bytes(tmp_path, small_inputs, name):
    bgs, fgs = small_inputs
    args = {"bundled-planar": ["--placements", "2", "--size", "64", "--depth", "planar", "--shard-rows", "100"],
            "written-none": ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "3", "--size", "48",
                             "--depth", "none", "--shard-rows", "20"]}[name]
    out = tmp_path / "out"
    res = run_cli("generate", "--out", out, "--quiet", "--workers", "2", *args)
    assert res.returncode == 0, res.stderr
    got = {k: v for k, v in shard_hashes(out).items() if k in PINNED[name]}
    assert got == PINNED[name], f"default bytes changed (pinned with {PINNED_BUILDS}; here {_builds()})"
    schema = pq.ParquetFile(next((out / "data").glob("*.parquet"))).schema_arrow.names
    assert not {"alpha", "instances", "objects", "blend"} & set(schema)


# What the scene options write, the same builds: a blend's code may get faster, never different,
# unless blend.BLEND_VERSION (or compose.COMPOSE_VERSION, for every mode) names a new version of it (the
# fingerprint then changes too). Both as of compositing version 2; motion as of its version 2 (integer
# premultiplied sums). Poisson is left out: its FFT may round differently on another CPU's SIMD.
PINNED_SCENES = {
    "gaussian": (["--blend", "gaussian", "--alpha"],
                 {"test-00000-of-00001.parquet": "40fcf7e9c07f19079eaf0a1c4e950178f1edd6ed79060695dbd1eff77160813b",
                  "train-00000-of-00002.parquet": "a04ca70fdd3b034b3588e9e89fe02241d6e94c4d607edc127320a6ead242cc5b",
                  "train-00001-of-00002.parquet": "197084de6671c8befe4a8fdd94c0cf3c4af4ba75df2ffc774574d1a8bc47b5c3"}),
    "motion, 3 objects": (["--blend", "motion", "--objects", "3", "--alpha"],
                          {"test-00000-of-00001.parquet": "9edaba6e40424fb5a14a9ffc7b55059de0eb681c5641369438688ebf824939ef",
                           "train-00000-of-00002.parquet": "e2f3a55522329029d512c72a9abcde99a01f1aaf718a83a303d5c3a0d9bfb65a",
                           "train-00001-of-00002.parquet": "00ed4fc5d6e38358395efae6dfd5886f6ce99aa8aba6797426fb74ba91016025"}),
}


@pytest.mark.parametrize("name", sorted(PINNED_SCENES))
def test_scene_options_write_the_bytes_they_landed_with(tmp_path, name):
    args, pinned = PINNED_SCENES[name]
    out = tmp_path / "out"
    res = run_cli("generate", "--out", out, "--quiet", "--workers", "2", "--placements", "2", "--size", "64",
                  "--depth", "planar", "--shard-rows", "100", *args)
    assert res.returncode == 0, res.stderr
    assert shard_hashes(out) == pinned, f"scene bytes changed (pinned with {PINNED_BUILDS}; here {_builds()})"


# -- the blend functions ------------------------------------------------------------------------

def disc(size=40, soft=True) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - size / 2 + 0.5, yy - size / 2 + 0.5) / (size / 2)
    alpha = np.clip((1.0 - r) * (8 if soft else 1000), 0, 1)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (size, size, 3))
    rgb[alpha == 0] = 0  # a cut-out's hidden colours: never to be used
    return np.dstack([rgb, (alpha * 255).round()]).astype(np.uint8)


def colours_of(rgba):
    return np.asarray(bleed_colours(Image.fromarray(rgba, "RGBA")))


def bled(rgba):
    """A cut-out as the scene path hands it to the blends: its colours carried past its silhouette."""
    return np.dstack([colours_of(rgba), rgba[..., 3]])


def test_bled_colours_keep_the_object_and_never_show_its_hidden_rgb():
    rgba = disc()
    rgba[..., :3][rgba[..., 3] == 0] = (255, 0, 255)  # a cut-out's hidden colour: must not leak
    colours = colours_of(rgba)
    solid = rgba[..., 3] == 255
    assert np.array_equal(colours[solid], rgba[..., :3][solid])
    outside = rgba[..., 3] == 0
    assert np.abs(colours[outside].astype(int) - (255, 0, 255)).min(axis=1).max() > 0  # not magenta
    near = rgba[..., :3][solid].astype(float).mean(0)
    assert np.abs(colours[outside].astype(float).mean(0) - near).max() < 40  # the object's own colours


def layer_array(layer) -> np.ndarray:
    """A blend's Layer as one uint8 h×w×4 array: its colours and the weight it is pasted with."""
    colour = np.asarray(layer.colour)
    return np.dstack([colour[..., :3], np.asarray(layer.alpha())])


def test_feather_keeps_the_object_sharp_and_softens_its_edge():
    rgba = bled(disc())
    layer = feather(Image.fromarray(rgba, "RGBA"), 10, 10, 1.5)
    out, x, y = layer_array(layer), layer.x, layer.y
    pad = 10 - x
    assert (x, y) == (10 - pad, 10 - pad) and pad >= 3 * 1.5
    inner = out[pad:-pad, pad:-pad]
    solid = rgba[..., 3] == 255
    assert np.array_equal(inner[..., :3][solid], rgba[..., :3][solid])  # colours untouched inside
    assert (inner[..., 3][rgba[..., 3] > 0] > 0).all()  # every object pixel keeps weight
    grown = out[..., 3] > 0
    assert grown.sum() > (rgba[..., 3] > 0).sum()  # the fringe widened
    assert ((out[..., 3] > 0) & (out[..., 3] < 255)).sum() > 2 * ((rgba[..., 3] > 0) & (rgba[..., 3] < 255)).sum()
    assert np.array_equal(out[:pad, pad:-pad, :3], np.repeat(rgba[:1, :, :3], pad, axis=0))  # edge colours carry on


def test_motion_steps_and_blur():
    steps = motion_offsets(5.0, 0.0)
    assert len(steps) == 6 and {dy for _, dy in steps} == {0} and steps == sorted(steps)  # a horizontal line
    assert {dx for dx, _ in motion_offsets(4.0, np.pi / 2)} == {0}  # a vertical one
    assert motion_offsets(3.0, np.pi / 4) == [(-1, -1), (0, 0), (0, 0), (1, 1)]  # centred, rounded to the nearest pixel
    rgba = disc(soft=False)
    premultiplied = np.asarray(Image.fromarray(rgba, "RGBA").convert("RGBa"))
    layer = motion_blur(premultiplied, 0, 0, 6.0, 0.0)
    assert layer.colour.mode == "RGBa" and layer.weight is None
    out, pad = np.asarray(layer.colour), -layer.x
    row = out[pad + 20, :, 3].astype(int)
    assert (np.diff(row[row > 0]) != 0).any()  # a ramp along the motion, not a hard edge
    assert (out[pad:-pad, pad:-pad, 3][rgba[..., 3] > 0] > 0).all()


def test_motion_blur_is_the_rounded_mean_of_shifted_premultiplied_copies():
    """Against a plain definition: each copy shifted on a zero canvas with np.roll, summed in int64,
    rounded half up once; then every pixel of the object keeps a weight of at least 1."""
    rng = np.random.default_rng(5)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(3, 40, 2))
        straight = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        straight[..., 3][rng.random((h, w)) < 0.3] = 0
        premultiplied = np.asarray(Image.fromarray(straight, "RGBA").convert("RGBa"))
        length, angle = float(rng.uniform(3, 7)), float(rng.uniform(0, np.pi))
        steps = motion_offsets(length, angle)
        pad = max(max(abs(dx), abs(dy)) for dx, dy in steps)
        base = np.zeros((h + 2 * pad, w + 2 * pad, 4), np.int64)
        base[pad:pad + h, pad:pad + w] = premultiplied
        total = sum(np.roll(base, (dy, dx), axis=(0, 1)) for dx, dy in steps)
        want = ((total + len(steps) // 2) // len(steps)).astype(np.uint8)
        inner = want[pad:pad + h, pad:pad + w, 3]
        inner[(premultiplied[..., 3] > 0) & (inner == 0)] = 1
        layer = motion_blur(premultiplied, 7, 9, length, angle)
        assert (layer.x, layer.y) == (7 - pad, 9 - pad)
        assert np.array_equal(np.asarray(layer.colour), want)
        assert (want[..., :3] <= want[..., 3:]).all()  # premultiplied: no colour above its weight


def test_pillows_premultiplied_paste_is_the_over_operator():
    """Pasting an RGBa layer through itself (what motion blur's layer does) is frame·(255 − a)/255
    rounded, plus the premultiplied colour: checked on random frames and layers, clipped at the frame."""
    rng = np.random.default_rng(6)
    for _ in range(200):
        frame = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        a = rng.integers(0, 256, (h, w, 1), dtype=np.uint16)
        colour = (rng.integers(0, 256, (h, w, 3)) * a // 255).astype(np.uint8)  # ≤ its weight
        patch = np.dstack([colour, a.astype(np.uint8)])
        x, y = (int(v) for v in rng.integers(-15, 30, 2))
        got = Image.fromarray(frame)
        got.paste(Image.fromarray(patch, "RGBa"), (x, y), Image.fromarray(patch, "RGBa"))
        want = frame.astype(np.uint16)
        x0, y0, x1, y1 = max(0, x), max(0, y), min(30, x + w), min(30, y + h)
        if x0 < x1 and y0 < y1:
            part = patch[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.uint16)
            region = want[y0:y1, x0:x1]
            want[y0:y1, x0:x1] = (region * (255 - part[..., 3:]) + 127) // 255 + part[..., :3]
        assert np.array_equal(np.asarray(got), want.astype(np.uint8))


def test_poisson_solves_the_equation_and_keeps_the_silhouette():
    rng = np.random.default_rng(1)
    canvas = np.clip(rng.normal(120, 10, (64, 64, 3)), 0, 255).astype(np.uint8)
    rgba = disc(30, soft=False)
    yy, xx = np.mgrid[0:30, 0:30]
    texture = 30 + 20 * np.sin(xx / 3.0) * np.cos(yy / 4.0)  # a dark object with smooth texture
    rgba[..., :3] = np.where(rgba[..., 3:] > 0, texture[..., None], 0).astype(np.uint8)
    rgba = bled(rgba)
    out = poisson_recolour(rgba, 17, 20, canvas)
    assert np.array_equal(out[..., 3], rgba[..., 3])
    inside = rgba[..., 3] > 0
    assert np.array_equal(out[..., :3][~inside], rgba[..., :3][~inside])
    # the seam is gone: on the object's rim, colours sit close to the canvas around it
    rim = inside & ~np.pad(inside[1:-1, 1:-1] & inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:],
                           1)
    before = np.abs(rgba[..., :3][rim].astype(int) - 120).mean()
    after = np.abs(out[..., :3][rim].astype(int) - 120).mean()
    assert after < before / 2, (before, after)
    # and inside, the equation holds: Δ(result) = Δ(cut-out), up to rounding to 8 bits (≤ 4)
    def laplacian(a):
        a = a.astype(float)
        return a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4 * a[1:-1, 1:-1]
    core = (inside[1:-1, 1:-1] & inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:])
    error = np.abs(laplacian(out[..., :3]) - laplacian(rgba[..., :3]))[core]
    assert error.max() <= 4 and error.mean() < 1.5, (error.max(), error.mean())


def test_the_poisson_solve_equals_an_independent_iterative_one():
    """The DST solve against plain Jacobi iterations of the same equations (Δf = Δsrc on omega,
    Δf = Δg off it, f = g on the border): a bug in the transform, its scaling or its eigenvalues
    would show, and so would any shortcut such as shifting the object's colours by a constant."""
    rng = np.random.default_rng(3)
    h, w = 23, 31
    g = rng.normal(150, 30, (h, w, 2)).astype(np.float32)
    src = rng.normal(60, 30, (h, w, 2)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    omega = ((yy - 11) ** 2 / 60 + (xx - 14) ** 2 / 90) < 1
    fast = solve_poisson(g, src, omega)

    def lap(a):
        return a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4 * a[1:-1, 1:-1]
    guide = np.where(omega[1:-1, 1:-1, None], lap(src.astype(float)), lap(g.astype(float)))
    f = g.astype(float).copy()
    for _ in range(4000):
        f[1:-1, 1:-1] = (f[:-2, 1:-1] + f[2:, 1:-1] + f[1:-1, :-2] + f[1:-1, 2:] - guide) / 4
    assert np.abs(fast - f).max() < 0.05
    assert np.abs(fast - g).max() > 20  # it did move something


def test_mixed_draws_every_mode_and_parameters_do_not_depend_on_it():
    drawn = [draw_blend("mixed", 0, i) for i in range(400)]
    counts = {m: sum(b.mode == m for b in drawn) for m in MODES}
    assert all(60 < n < 140 for n in counts.values()), counts
    for i in range(20):  # a sample's sizes are the same whatever mode it gets
        assert len({(draw_blend(mode, 0, i).sigma, draw_blend(mode, 0, i).length, draw_blend(mode, 0, i).angle)
                    for mode in ("mixed", *MODES)}) == 1
    assert all(1.0 <= b.sigma <= 2.0 and 3.0 <= b.length <= 7.0 for b in drawn)


# -- whole runs ----------------------------------------------------------------------------------

def read_rows(out, split="train"):
    tables = [pq.read_table(p) for p in sorted((out / "data").glob(f"{split}-*.parquet"))]
    return [r for t in tables for r in t.to_pylist()]


def decode(cell):
    return np.asarray(Image.open(io.BytesIO(cell["bytes"])))


def silhouette_size(fg_name, flipped, w, h, size=96) -> int:
    cut = open_foreground(os.path.join(default_foregrounds(), fg_name))
    alpha = Resampler().resize(reduce_foreground(cut, size, flipped).convert("RGBa"), w, h).getchannel(3)
    return int((np.asarray(alpha) > 0).sum())


@pytest.fixture(scope="module")
def scene_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scene") / "out"
    res = run_cli("generate", "--out", out, "--objects", "3", "--alpha", "--blend", "mixed", "--placements", "3",
                  "--size", "96", "--depth", "planar", "--shard-rows", "150", "--workers", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.slow
def test_scene_run_verifies_and_has_the_columns(scene_run):
    res = run_cli("verify", scene_run)
    assert res.returncode == 0, res.stdout + res.stderr
    names = pq.ParquetFile(next((scene_run / "data").glob("*.parquet"))).schema_arrow.names
    assert names[:6] == ["fg_bg", "bg", "mask", "depth", "alpha", "instances"] and names[-2:] == ["objects", "blend"]
    stats = json.loads((scene_run / "stats.json").read_text())["channel_stats"]["train"]
    assert {"alpha", "instances"} <= set(stats) and 0 < stats["alpha"]["mean"][0] < 1
    # the card's command makes the same data again
    assert ("fgbg-depth generate --out OUT --placements 3 --size 96 --blend mixed --alpha --objects 3 --depth planar"
            in (scene_run / "README.md").read_text())


def test_instances_union_boxes_and_visibility(scene_run):
    rows = read_rows(scene_run)
    assert len(rows) == 269  # 8 × 8 × 2 × 3 = 384 samples, 70% in train
    for row in rows[:120]:
        ids, mask = decode(row["instances"]), decode(row["mask"])
        assert set(np.unique(ids)) <= {0, 1, 2, 3}
        assert np.array_equal(ids > 0, mask > 0)
        objects = row["objects"]
        assert len(objects) == 3
        own = [o for o in objects if (o["fg_id"], o["x"], o["y"], o["w"], o["h"]) ==
               (row["fg_id"], row["x"], row["y"], row["w"], row["h"])]
        assert own and own[0]["fg_name"] == row["fg_name"] and own[0]["flipped"] == row["flipped"]
        feet = [o["y"] + o["h"] for o in objects]
        assert feet == sorted(feet)  # painted far to near
        for i, o in enumerate(objects, start=1):
            ys, xs = np.nonzero(ids == i)
            if len(ys):
                assert o["x"] <= xs.min() and xs.max() < o["x"] + o["w"] and o["y"] <= ys.min() and ys.max() < o["y"] + o["h"]
            total = silhouette_size(o["fg_name"], o["flipped"], o["w"], o["h"])
            assert o["visible"] == pytest.approx(len(ys) / total, abs=1e-6), (i, o)
        assert objects[-1]["visible"] == 1.0  # the nearest one is never hidden


def test_alpha_column(scene_run):
    rows = read_rows(scene_run)
    soft = 0
    for row in rows[:150]:
        alpha, mask = decode(row["alpha"]), decode(row["mask"])
        assert (alpha[mask > 0] > 0).all()
        soft += int(((alpha > 0) & (alpha < 255)).sum())
        luma = np.array([0.299, 0.587, 0.114])  # JPEG's luma; its chroma is subsampled over 16×16 blocks
        composite = decode_jpeg(row["fg_bg"]["bytes"]) @ luma
        bg = decode_jpeg(row["bg"]["bytes"]) @ luma
        far = np.asarray(Image.fromarray(np.where(alpha > 0, 255, 0).astype(np.uint8)).filter(ImageFilter.MaxFilter(17))) == 0
        if far.any():  # stored as JPEG, the background holds up to its noise
            assert np.abs(composite - bg)[far].mean() < 1.5 and np.abs(composite - bg)[far].max() < 12, row["blend"]
    assert soft > 1000  # edges are soft


@pytest.mark.parametrize("blend", ["none", "gaussian", "motion", "poisson"])
def test_the_composite_is_the_background_wherever_alpha_is_zero(blend):
    """Before encoding, exactly: every blend here changes only pixels that got some weight."""
    from fgbg_depth.generate import GenerateOptions, prepare
    from fgbg_depth.stages.composite import Compositor
    from fgbg_depth.stages.pictures import Pictures
    job = prepare(GenerateOptions(out="unused", depth="none", blend=blend, alpha=True, objects=3, size=96)).job
    pictures = Pictures(job.backgrounds, job.foregrounds, job.size)
    compositor = Compositor(job, pictures)
    for sid in range(0, 2560, 37):
        made = compositor.compose(sid, 96)
        bg_id = job.plan.decode(sid)[0]
        background = pictures.background(bg_id, 96)
        zero = made.alpha == 0
        assert np.array_equal(made.image[zero], background[zero]), sid
        assert ((made.alpha > 0) | (made.mask == 0)).all()
        assert zero.any() and (made.alpha == 255).any()


def test_mixed_uses_every_mode(scene_run):
    blends = [r["blend"] for r in read_rows(scene_run) + read_rows(scene_run, "test")]
    assert len(blends) >= 384 and set(blends) == set(MODES)


def test_planar_depth_stands_each_object_on_its_own_foot(scene_run):
    from fgbg_depth.depth.planar import PlanarDepth
    ground = PlanarDepth().ground(96)
    scale = json.loads((scene_run / "stats.json").read_text())["depth_scale"]
    for row in read_rows(scene_run)[:40]:
        ids, depth = decode(row["instances"]), decode(row["depth"]).astype(float) * scale
        for i in np.unique(ids[ids > 0]):
            lowest = np.nonzero((ids == i).any(axis=1))[0][-1]
            values = depth[ids == i]
            assert np.ptp(values) < 0.011 and abs(values.mean() - ground[lowest]) < 0.011


@pytest.mark.slow
def test_workers_builder_and_engines_agree(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    common = ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "4", "--size", "48", "--objects", "2",
              "--alpha", "--blend", "mixed", "--depth", "planar", "--shard-rows", "17", "--quiet"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli("generate", "--out", one, "--workers", "1", *common).returncode == 0
    assert run_cli("generate", "--out", two, "--workers", "2", *common).returncode == 0
    assert shard_hashes(one) == shard_hashes(two)
    for name in ("README.md", "stats.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    pytest.importorskip("ray")
    ray_out = tmp_path / "ray"
    res = run_cli("generate", "--out", ray_out, "--workers", "2", "--engine", "ray", *common)
    assert res.returncode == 0, res.stderr
    assert shard_hashes(ray_out) == shard_hashes(one)


def test_builder_writes_the_cli_rows(tmp_path, small_inputs):
    import datasets
    from builder_script import FgBgDepth
    bgs, fgs = small_inputs
    builder = FgBgDepth(backgrounds=str(bgs), foregrounds=str(fgs), placements=2, size=48, objects=3, alpha=True,
                        blend="gaussian", cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    ds = builder.as_dataset()["train"]
    for col in ("fg_bg", "alpha", "instances"):
        ds = ds.cast_column(col, datasets.Image(decode=False))
    out = tmp_path / "cli"
    assert run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "2",
                   "--size", "48", "--objects", "3", "--alpha", "--blend", "gaussian", "--depth", "planar",
                   "--workers", "1", "--quiet").returncode == 0
    cli = read_rows(out)
    for col in ("fg_bg", "alpha", "instances"):
        assert [r[col]["bytes"] for r in ds] == [r[col]["bytes"] for r in cli]
    assert [r["objects"] for r in ds] == [r["objects"] for r in cli]


@pytest.mark.slow
def test_options_are_part_of_the_fingerprint(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    common = ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1", "--size", "32", "--depth", "none",
              "--quiet"]
    out = tmp_path / "out"
    assert run_cli("generate", "--out", out, "--blend", "gaussian", *common).returncode == 0
    again = run_cli("generate", "--out", out, "--blend", "gaussian", *common)
    assert again.returncode == 0
    assert json.loads((out / ".fgbg-depth" / "report.json").read_text())["shards_already_done"] >= 1
    for other in (["--blend", "motion"], ["--blend", "gaussian", "--alpha"], ["--blend", "gaussian", "--objects", "2"]):
        res = run_cli("generate", "--out", out, *other, *common)
        assert res.returncode == 2 and "other arguments" in res.stderr, other


@pytest.mark.slow
@pytest.mark.parametrize("blend, key", [("motion", "blend_version"), ("none", "compose_version")])
def test_a_folder_of_an_earlier_version_is_refused_not_mixed(tmp_path, small_inputs, blend, key):
    """Motion's bytes changed with its version 2, and every sample's with compositing version 2: a
    folder written by version 1 (its recipe without the key) must not be resumed with the new code,
    whose shards would differ from its own."""
    from fgbg_depth.generate import fingerprint_of
    from fgbg_depth.scene import SceneOptions
    assert SceneOptions("motion").versions() == SceneOptions("mixed").versions() == {"compose_version": 2,
                                                                                   "blend_version": {"motion": 2}}
    assert SceneOptions("gaussian").versions() == SceneOptions("poisson").versions() == SceneOptions().versions() \
        == {"compose_version": 2}
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    args = ["--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1", "--size", "32",
            "--depth", "none", "--blend", blend, "--shard-rows", "8", "--quiet"]
    assert run_cli("generate", *args).returncode == 0
    manifest = out / ".fgbg-depth" / "manifest.json"
    state = json.loads(manifest.read_text())
    del state["recipe"][key]  # as version 1 wrote it
    state["fingerprint"] = fingerprint_of(state["recipe"])
    manifest.write_text(json.dumps(state))
    before = shard_hashes(out)
    res = run_cli("generate", *args)
    assert res.returncode == 2 and f"differs in: {key}" in res.stderr, res.stderr
    assert shard_hashes(out) == before  # nothing written is lost


def test_bad_scene_options_are_one_line(tmp_path):
    res = run_cli("generate", "--out", tmp_path / "a", "--objects", "9", "--quiet")
    assert res.returncode == 2 and "--objects must be between 1 and 8" in res.stderr
    fake = tmp_path / "fake" / "scipy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no scipy here')\n")
    res = run_cli("generate", "--out", tmp_path / "b", "--blend", "poisson", "--quiet",
                  env={"PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])})
    assert res.returncode == 2 and "pip install 'fgbg-depth[blend]'" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_default_card_says_nothing_of_scenes(sample_out):
    card = (sample_out / "README.md").read_text()
    assert "`instances`" not in card and "`alpha`" not in card and "Blending" not in card


@pytest.mark.slow
def test_alpha_alone_adds_a_column_and_changes_nothing_else(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    common = ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "2", "--size", "48", "--depth", "planar",
              "--quiet"]
    plain, with_alpha = tmp_path / "plain", tmp_path / "alpha"
    assert run_cli("generate", "--out", plain, *common).returncode == 0
    assert run_cli("generate", "--out", with_alpha, "--alpha", *common).returncode == 0
    a, b = read_rows(plain), read_rows(with_alpha)
    for col in ("fg_bg", "bg", "mask", "depth"):
        assert [r[col]["bytes"] for r in a] == [r[col]["bytes"] for r in b], col
    for row in b:  # one plainly pasted object: alpha is its alpha, and the mask is where it is > 0
        assert np.array_equal(decode(row["alpha"]) > 0, decode(row["mask"]) > 0)


@pytest.mark.slow
@pytest.mark.parametrize("picture", ["scenes", "samples"])
def test_the_readmes_contact_sheets_are_what_their_commands_make(tmp_path, picture):
    """The README shows docs/scenes.png and docs/samples.png and prints the two commands that make
    each: they still do (pixels compared, so another zlib's PNG bytes do not matter), whatever the
    compositing or a blend's code became."""
    import re
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    assert f"](docs/{picture}.png)" in readme
    made = re.search(rf"Made with `fgbg-depth generate --out OUT ([^`]*)`\s+and `fgbg-depth preview OUT ([^`]*) --out docs/{picture}.png`",
                     readme)
    assert made, f"the README no longer says how docs/{picture}.png is made"
    out = tmp_path / "out"
    assert run_cli("generate", "--out", out, "--quiet", *made.group(1).split()).returncode == 0
    sheet = tmp_path / "scenes.png"
    assert run_cli("preview", out, *made.group(2).split(), "--out", sheet).returncode == 0
    want = np.asarray(Image.open(root / "docs" / f"{picture}.png").convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(sheet).convert("RGB")), want), \
        f"regenerate docs/{picture}.png with the README's commands (pinned with {PINNED_BUILDS}; here {_builds()})"
