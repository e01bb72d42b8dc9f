"""`--engine ray` on a local Ray with 2 CPUs writes exactly what `--engine local` writes."""

import json

import pytest

pytest.importorskip("ray")

from conftest import run_cli  # noqa: E402
from test_generate import shard_hashes  # noqa: E402


def test_ray_and_local_engines_write_the_same_bytes_also_after_resume(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    common = ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "40", "--size", "48",
              "--shard-rows", "100", "--workers", "2", "--quiet"]
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert run_cli("generate", "--out", local, *common).returncode == 0
    res = run_cli("generate", "--out", ray_out, *common, "--engine", "ray", env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(shard_hashes(local)) >= 4
    assert shard_hashes(ray_out) == shard_hashes(local)
    for name in ("README.md", "stats.json"):
        assert (ray_out / name).read_bytes() == (local / name).read_bytes()
    # an interrupted run: two shards lost (one with its marker), a stray temporary; ray resumes it
    shards = sorted((ray_out / "data").glob("train-*"))
    shards[0].unlink()
    shards[2].unlink()
    (ray_out / ".fgbg-depth" / "tmp").mkdir(exist_ok=True)
    (ray_out / ".fgbg-depth" / "tmp" / "x.tmp").write_bytes(b"half")
    res = run_cli("generate", "--out", ray_out, *common, "--engine", "ray", env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert shard_hashes(ray_out) == shard_hashes(local)
    assert (ray_out / "README.md").read_bytes() == (local / "README.md").read_bytes()
    report = json.loads((ray_out / ".fgbg-depth" / "report.json").read_text())
    assert report["shards_already_done"] == len(shard_hashes(local)) - 2
    assert run_cli("verify", ray_out).returncode == 0


def test_ray_missing_is_a_clear_error(tmp_path, small_inputs, monkeypatch):
    import builtins

    from fgbg_depth.engines import ray as ray_engine
    from fgbg_depth.errors import FgBgError
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(FgBgError, match=r"pip install 'fgbg-depth\[ray\]'"):
        ray_engine._import_ray()


def test_ray_with_densedepth_matches_local_and_the_driver_loads_no_model(tmp_path, small_inputs, monkeypatch):
    """The depth actor loads the model; the driver only checks the weights file (on one GPU, a
    second copy in the driver would take the actor's memory)."""
    pytest.importorskip("keras")
    import numpy as np
    from keras2_h5 import model_layers, write_keras2_h5

    from fgbg_depth.depth import densedepth
    from fgbg_depth.generate import GenerateOptions, generate
    weights = tmp_path / "nyu.h5"
    write_keras2_h5(weights, model_layers(densedepth.build_model((64, 64)), np.random.default_rng(0)))
    bgs, fgs = small_inputs
    common = dict(backgrounds=str(bgs), foregrounds=str(fgs), placements=3, size=40, depth="densedepth",
                  depth_weights=str(weights), depth_input_size=64, shard_rows=20, workers=2, progress=False)
    local = tmp_path / "local"
    generate(GenerateOptions(out=str(local), **common))

    def no_model(*args, **kwargs):
        raise AssertionError("the Ray driver built the model")

    monkeypatch.setattr(densedepth, "build_model", no_model)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray_out = tmp_path / "ray"
    generate(GenerateOptions(out=str(ray_out), engine="ray", **common))
    assert len(shard_hashes(local)) >= 3
    assert shard_hashes(ray_out) == shard_hashes(local)
    for name in ("README.md", "stats.json"):
        assert (ray_out / name).read_bytes() == (local / name).read_bytes()


def test_ray_driver_refuses_a_half_width_weights_file_before_starting_ray(tmp_path, small_inputs):
    pytest.importorskip("keras")
    import numpy as np
    from keras2_h5 import HALF_WIDTH, model_layers, write_keras2_h5

    from fgbg_depth.depth import densedepth
    weights = tmp_path / "half.h5"
    write_keras2_h5(weights, model_layers(densedepth.build_model((64, 64)), np.random.default_rng(0), HALF_WIDTH))
    bgs, fgs = small_inputs
    res = run_cli("generate", "--out", tmp_path / "out", "--backgrounds", bgs, "--foregrounds", fgs,
                  "--depth", "densedepth", "--depth-weights", weights, "--engine", "ray", "--quiet")
    assert res.returncode != 0
    assert "half-width" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
