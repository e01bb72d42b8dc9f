"""The faster forms of issue #26 give exactly what the plain forms give: a shard made in cut-out
order, the placement draws and boxes made for a whole shard at once, the decoded composites counted in one
call, the depth prior spared the empty part of each mask, the table built column by column."""

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from fgbg_depth import stats
from fgbg_depth.codecs import decode_jpeg, decode_jpeg_rgbx, encode_jpeg
from fgbg_depth.plan import first_uniforms, place_foreground, placement_boxes

SMALL_PHOTOS = ROOT / "bench" / "small_photos"


def _job(tmp_path, size=64, placements=3, depth="planar"):
    from fgbg_depth.generate import GenerateOptions, prepare
    return prepare(GenerateOptions(out=str(tmp_path / "out"), backgrounds=str(SMALL_PHOTOS / "backgrounds"),
                                   foregrounds=str(SMALL_PHOTOS / "foregrounds"), placements=placements,
                                   size=size, depth=depth, shard_rows=150, progress=False))


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 + 5, 2**32 - 1, 2**32, 2**40 + 3, 2**100 + 9])
def test_first_uniforms_are_default_rngs_draws(seed):
    ids = np.concatenate([np.arange(300), np.random.default_rng(seed % 97).integers(0, 2**32, 300), [2**32 - 1]])
    want = np.array([np.random.default_rng([seed, int(i)]).random(3) for i in ids])
    assert np.array_equal(first_uniforms(seed, ids, 3), want)


def test_first_uniforms_leave_what_they_do_not_cover_to_the_generator():
    assert first_uniforms(0, [1, 2**32], 3) is None
    assert first_uniforms(-1, [1], 3) is None


@pytest.mark.parametrize("seed", [0, 3, 2**32 + 1])
def test_placement_boxes_are_each_placements_box(seed):
    """The array form of placement and box, against a Placement each: every sample's box at the
    sizes people train at and at odd ones, for ordinary, very wide and very tall cut-outs."""
    rng = np.random.default_rng(seed % 89)
    ids = np.concatenate([np.arange(400), rng.integers(0, 2**32, 400)])
    aspects = np.concatenate([rng.uniform(0.3, 3.0, 700), [0.01, 0.05, 0.2, 1.0, 5.0, 20.0, 100.0],
                              rng.uniform(0.01, 100.0, 93)])
    for res in (1, 7, 64, 160, 224, 320, 448, 1001):
        boxes = placement_boxes(seed, ids, aspects, res)
        want = [place_foreground(seed, int(i), float(a)).box(res) for i, a in zip(ids, aspects)]
        assert boxes.dtype == np.int64 and [tuple(b) for b in boxes.tolist()] == want
    assert placement_boxes(0, [2**32], [1.0], 64) is None  # where the draws are left to the generator


def test_cutout_order_without_the_array_form_gives_the_same_order_and_boxes(tmp_path, monkeypatch):
    """Where the draws are left to a generator per sample (placement_boxes gives None), the order
    and the boxes kept for compose are the same."""
    from fgbg_depth.stages import composite
    from fgbg_depth.worker import ShardWorker
    prep = _job(tmp_path)
    ids = prep.job.plan.split_ids("train")[:150]
    fast = ShardWorker(prep.job, backend=prep.backend).compositor
    order = fast.cutout_order(ids)
    monkeypatch.setattr(composite, "placement_boxes", lambda *args: None)
    plain = ShardWorker(prep.job, backend=prep.backend).compositor
    assert plain.cutout_order(ids) == order and plain._boxes == fast._boxes


class _PlanOrderPlanar:
    """The planar prior without its per-sample promise: the worker then makes rows in plan order."""

    def __init__(self, planar):
        self.planar, self.input_size = planar, None

    def units_from_masks(self, masks, scale, quantum):
        return self.planar.units_from_masks(masks, scale, quantum)

    def predict(self, images, masks=None):
        return self.planar.predict(images, masks)


@pytest.mark.parametrize("depth", ["planar", "none"])
def test_a_shard_made_in_cutout_order_is_the_shard_made_in_plan_order(tmp_path, depth):
    from fgbg_depth.worker import ShardWorker
    prep = _job(tmp_path, depth=depth)
    job = prep.job
    for spec in job.plan.shards("train")[:2] + job.plan.shards("test")[:1]:
        fast = ShardWorker(job, backend=prep.backend)
        ids = job.plan.split_ids(spec.split)[spec.start:spec.stop]
        order = fast.compositor.cutout_order(ids)
        assert order != list(range(len(ids)))  # the order is another one
        fast.compositor._boxes.clear()
        plain = ShardWorker(job, backend=_PlanOrderPlanar(prep.backend) if depth == "planar" else prep.backend)
        if depth == "none":
            plain.compositor.cutout_order = lambda ids: list(range(len(ids)))
        table, sums = fast.build(spec)
        want_table, want_sums = plain.build(spec)
        assert table.equals(want_table) and sums == want_sums


def test_the_pasteable_cutout_is_the_cutout_and_its_mask(tmp_path):
    from fgbg_depth.stages.pictures import Pictures
    job = _job(tmp_path).job
    pictures = Pictures(job.backgrounds, job.foregrounds, job.size)
    for fg_id, flip, w, h in ((0, False, 37, 50), (0, False, 37, 50), (1, True, 40, 41), (2, False, 12, 9)):
        cut, silhouette = pictures.pasteable(fg_id, 64, flip, w, h)
        want = np.asarray(pictures.premultiplied_cutout(fg_id, 64, flip, w, h))
        assert np.array_equal(np.asarray(cut), want)
        on = want[..., 3] > 0
        assert np.array_equal(silhouette.opaque, np.where(on, 255, 0).astype(np.uint8))
        assert np.array_equal(silhouette.on, on) and silhouette.count == np.count_nonzero(on)
        assert silhouette.row_counts.tolist() == on.sum(axis=1).tolist()
        assert silhouette.foot == (np.flatnonzero(on.any(axis=1))[-1] if on.any() else -1)
    again = pictures.pasteable(2, 64, False, 12, 9)
    assert again[0] is cut  # the last one is kept


def test_rgbx_decoding_and_its_counts_are_the_rgb_ones():
    rng = np.random.default_rng(8)
    pictures = []
    for side in (1, 7, 64, 161):
        smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((side, side)))
        pictures += [rng.integers(0, 256, (side, side, 3), dtype=np.uint8), smooth]
    for picture in pictures:
        data = encode_jpeg(picture)
        out = np.empty((1, *picture.shape[:2], 4), np.uint8)
        decode_jpeg_rgbx(data, out[0])
        assert np.array_equal(out[0, ..., :3], decode_jpeg(data))
        want, got = np.zeros((3, 256), np.int64), np.zeros((3, 256), np.int64)
        stats.add_histogram(want, decode_jpeg(data))
        stats.add_rgbx_histogram(got, out)
        assert np.array_equal(got, want)


def test_the_planar_prior_from_each_objects_silhouette_is_the_prior_from_the_masks():
    from fgbg_depth.compose import Silhouette
    from fgbg_depth.contract import depth_quantum_for, depth_scale_for
    from fgbg_depth.depth.planar import PlanarDepth
    planar, scale = PlanarDepth(), depth_scale_for(10.0)
    quantum = depth_quantum_for(scale)
    rng = np.random.default_rng(9)
    size = 48
    masks, placed = np.zeros((20, size, size), np.uint8), []
    for mask in masks:
        x, y = (int(v) for v in rng.integers(0, 40, 2))
        w, h = (int(v) for v in rng.integers(1, size - max(x, y), 2))
        on = rng.random((h, w)) < 0.7
        placed.append([x, y, on])
    placed[3][2][:] = False  # a cut-out with no opaque pixel at its size
    for entry in placed[4:10]:  # objects whose lowest rows are clear: the foot is higher
        entry[2][entry[2].shape[0] // 2:] = False
    placed[10][:2] = (0, size - placed[10][2].shape[0])  # at the frame's corner, down to its last row
    for mask, (x, y, on) in zip(masks, placed):
        mask[y:y + on.shape[0], x:x + on.shape[1]] = np.where(on, 255, 0)
    for quantum_here in (quantum, 1):
        units, sums = planar.units_of_objects([(x, y, Silhouette(on)) for x, y, on in placed], size, scale,
                                              quantum_here)
        want = planar.units_from_masks(masks, scale, quantum_here)
        assert np.array_equal(units, want)
        acc = stats.empty(1)
        stats.add_depth(acc, want)
        assert sums == acc
    # a ground row stored as 0 (unknown: a range that ends before the horizon) is left out of the count
    planar._rows = ((size, float(scale), quantum), planar._row_units(size, scale, quantum).copy())
    planar._rows[1][-5:] = 0
    units, sums = planar.units_of_objects([(x, y, Silhouette(on)) for x, y, on in placed], size, scale, quantum)
    acc = stats.empty(1)
    stats.add_depth(acc, planar.units_from_masks(masks, scale, quantum))
    assert sums == acc and np.count_nonzero(units == 0) > 0


def test_arrays_laid_out_from_buffers_are_pyarrows_own():
    import pyarrow as pa
    from fgbg_depth.shards import binary_array, numeric_array
    rng = np.random.default_rng(10)
    values = [bytes(rng.integers(0, 256, int(n), dtype=np.uint8)) for n in rng.integers(0, 50, 40)]
    assert binary_array(values).equals(pa.array(values, pa.binary()))
    names = ["bg00_coffee.jpg", "ünïcode.png", ""]
    assert binary_array([n.encode() for n in names], pa.string()).equals(pa.array(names, pa.string()))
    ints, floats = rng.integers(-30000, 30000, 50), rng.random(50) * 3
    for dtype in (pa.int16(), pa.int32(), pa.int64()):
        assert numeric_array(ints, dtype).equals(pa.array(ints.tolist(), dtype))
    assert numeric_array(floats, pa.float32()).equals(pa.array(floats.tolist(), pa.float32()))
    flags = rng.integers(0, 2, 37)
    assert numeric_array(flags, pa.bool_()).equals(pa.array([bool(f) for f in flags], pa.bool_()))
    with pytest.raises(OverflowError):
        numeric_array(np.array([40000]), pa.int16())


def test_row_image_bytes_count_nulls_as_nothing():
    import pyarrow as pa
    from fgbg_depth.contract import IMAGE
    from fgbg_depth.shards import _row_image_bytes
    rows = [{"bytes": b"abc" * i if i % 3 else None, "path": None} for i in range(20)]
    table = pa.table({"a": pa.array(rows, IMAGE), "n": list(range(20))})
    want = [0 if i % 3 == 0 else 3 * i for i in range(20)]
    assert _row_image_bytes(table) == want
    assert _row_image_bytes(table.slice(3, 10)) == want[3:13]
    assert _row_image_bytes(pa.concat_tables([table.slice(0, 5), table.slice(7, 9)])) == want[:5] + want[7:16]
