import numpy as np
import pytest

from fgbg_depth.errors import FgBgError
from fgbg_depth.plan import MAX_AREA, MIN_AREA, Plan, place_foreground


def test_ids_round_trip_in_order():
    plan = Plan(3, 4, placements=5)
    ids = np.arange(plan.n_samples)
    bg, fg, flip, k = plan.decode(ids)
    assert plan.n_samples == 3 * 4 * 2 * 5
    assert np.array_equal(plan.sample_id(bg, fg, flip, k), ids)
    # k varies fastest, then flip, then fg, then bg
    assert (bg[0], fg[0], flip[0], k[0]) == (0, 0, 0, 0)
    assert (k[4], flip[5], fg[10], bg[40]) == (4, 1, 1, 1)


def test_placement_is_deterministic_and_seeded():
    a = place_foreground(7, 123, 0.8)
    assert a == place_foreground(7, 123, 0.8)
    assert a != place_foreground(8, 123, 0.8)
    assert a != place_foreground(7, 124, 0.8)


@pytest.mark.parametrize("aspect", [0.25, 0.7, 1.0, 1.6])
def test_placement_ranges_and_inside_frame(aspect):
    for sid in range(400):
        p = place_foreground(3, sid, aspect)
        reachable = min(MIN_AREA, aspect, 1 / aspect)  # a narrow cut-out cannot cover 30% inside the frame
        assert reachable - 1e-9 <= p.w * p.h <= MAX_AREA + 1e-9
        assert abs(p.w / p.h - aspect) < 1e-9
        assert 0 <= p.x and p.x + p.w <= 1 + 1e-12 and 0 <= p.y and p.y + p.h <= 1 + 1e-12
        for res in (160, 448):
            x, y, w, h = p.box(res)
            assert 0 <= x and x + w <= res and 0 <= y and y + h <= res


def test_extreme_aspect_is_shrunk_to_fit():
    p = place_foreground(0, 0, 20.0)  # a very wide cut-out cannot cover 30% at its aspect inside the frame
    assert p.w <= 1.0 and abs(p.w / p.h - 20.0) < 1e-9


def test_lower_objects_are_bigger():
    placements = [place_foreground(1, sid, 1.0) for sid in range(2000)]
    bottom = np.array([p.y + p.h for p in placements])
    area = np.array([p.w * p.h for p in placements])
    assert np.corrcoef(bottom, area)[0, 1] > 0.8
    assert area[bottom > 0.95].mean() > area[bottom < 0.8].mean() + 0.1


@pytest.mark.parametrize("mode", ["sample", "background", "foreground"])
def test_splits_partition_exactly(mode):
    plan = Plan(10, 6, placements=3, seed=5, test_fraction=0.3, split_by=mode)
    train, test = plan.split_ids("train"), plan.split_ids("test")
    assert len(np.intersect1d(train, test)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(plan.n_samples))
    bg, fg, _, _ = plan.decode(np.arange(plan.n_samples))
    if mode == "sample":
        assert len(test) == round(0.3 * plan.n_samples)
    else:
        unit = bg if mode == "background" else fg
        n_units = 10 if mode == "background" else 6
        test_units = set(unit[test].tolist())
        assert not test_units & set(unit[train].tolist())
        assert len(test_units) == round(0.3 * n_units)
    # a pure function of ids and seed: the same plan object made again agrees
    again = Plan(10, 6, placements=3, seed=5, test_fraction=0.3, split_by=mode)
    assert np.array_equal(again.split_ids("test"), test)
    other_seed = Plan(10, 6, placements=3, seed=6, test_fraction=0.3, split_by=mode)
    assert not np.array_equal(other_seed.split_ids("test"), test)


def test_no_test_split():
    plan = Plan(2, 2, placements=1, test_fraction=0.0)
    assert plan.split_names == ("train",)
    assert len(plan.split_ids("train")) == plan.n_samples


def test_group_split_needs_two_groups():
    with pytest.raises(FgBgError, match="single background"):
        Plan(1, 3, split_by="background")


@pytest.mark.parametrize("kwargs", [{"placements": 0}, {"test_fraction": 1.0}, {"test_fraction": -0.1},
                                    {"split_by": "colour"}])
def test_bad_plan_arguments(kwargs):
    with pytest.raises(FgBgError):
        Plan(2, 2, **kwargs)


def test_shards_cover_each_split_in_fixed_ranges():
    plan = Plan(4, 5, placements=7, shard_rows=33)
    for split in plan.split_names:
        shards = plan.shards(split)
        n = len(plan.split_ids(split))
        assert sum(s.rows for s in shards) == n
        assert [s.start for s in shards] == [i * 33 for i in range(len(shards))]
        assert all(s.count == len(shards) for s in shards)
        assert shards[0].filename == f"{split}-00000-of-{len(shards):05d}.parquet"
