"""`--engine ray` on a local Ray with 2 CPUs writes exactly what `--engine local` writes."""

import json
import os
import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from conftest import run_cli  # noqa: E402
from test_generate import shard_hashes  # noqa: E402


@pytest.fixture(scope="module")
def nyu_h5(tmp_path_factory):
    """A DenseDepth weights file in the released Keras 2 layout (random weights), written once."""
    pytest.importorskip("keras")
    import numpy as np
    from keras2_h5 import model_layers, write_keras2_h5

    from fgbg_depth.depth import densedepth
    path = tmp_path_factory.mktemp("weights") / "nyu.h5"
    write_keras2_h5(path, model_layers(densedepth.build_model((64, 64)), np.random.default_rng(0)))
    return path


@pytest.mark.slow
def test_ray_and_local_engines_write_the_same_bytes_also_after_resume(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    # 25 shards: more than the Ray engine queues at once on 2 CPUs (16), so it refills its queue
    common = ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "40", "--size", "48",
              "--shard-rows", "20", "--workers", "2", "--quiet"]
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert run_cli("generate", "--out", local, *common).returncode == 0
    res = run_cli("generate", "--out", ray_out, *common, "--engine", "ray", env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(shard_hashes(local)) > 16
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


@pytest.mark.slow
def test_ray_with_densedepth_matches_local_and_the_driver_loads_no_model(tmp_path, small_inputs, monkeypatch, nyu_h5):
    """The depth actor loads the model; the driver only checks the weights file (on one GPU, a
    second copy in the driver would take the actor's memory). The run joins a Ray started before
    FGBG_DEPTH_BATCH was set, so its workers lack the variable, as a cluster's nodes do: the batch
    size (3, dividing neither the shards nor 128 rows) must reach the actor with the job."""
    from fgbg_depth.depth import densedepth
    from fgbg_depth.generate import GenerateOptions, generate
    weights = nyu_h5
    bgs, fgs = small_inputs
    common = dict(backgrounds=str(bgs), foregrounds=str(fgs), placements=3, size=40, depth="densedepth",
                  depth_weights=str(weights), depth_input_size=64, shard_rows=20, workers=2, progress=False)
    monkeypatch.delenv("FGBG_DEPTH_BATCH", raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    import ray.data
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, configure_logging=False)
    try:
        monkeypatch.setenv("FGBG_DEPTH_BATCH", "3")
        local = tmp_path / "local"
        generate(GenerateOptions(out=str(local), **common))

        def no_model(*args, **kwargs):
            raise AssertionError("the Ray driver built the model")

        monkeypatch.setattr(densedepth, "build_model", no_model)
        ray_out = tmp_path / "ray"
        context = ray.data.DataContext.get_current()
        settings = (context.enable_progress_bars, context.execution_options.preserve_order)
        generate(GenerateOptions(out=str(ray_out), engine="ray", **common))
    finally:
        ray.shutdown()
    # the run's settings went on its datasets' own copies of the context, not on the caller's
    assert ray.data.DataContext.get_current() is context
    assert (context.enable_progress_bars, context.execution_options.preserve_order) == settings
    assert len(shard_hashes(local)) >= 3
    assert shard_hashes(ray_out) == shard_hashes(local)
    for name in ("README.md", "stats.json"):
        assert (ray_out / name).read_bytes() == (local / name).read_bytes()


@pytest.mark.slow
def test_ray_with_depth_anything_matches_local_and_the_driver_loads_no_model(tmp_path, small_inputs, monkeypatch):
    """The same path for Depth Anything: the driver resolves and describes the checkpoint (the card
    needs its revision and checksum) without building the model; the actors build it."""
    from fgbg_depth.depth import depth_anything
    from fgbg_depth.generate import GenerateOptions, generate
    model = Path(__file__).parent / "data" / "depth_anything" / "metric"
    bgs, fgs = small_inputs
    common = dict(backgrounds=str(bgs), foregrounds=str(fgs), placements=2, size=40, depth="depth-anything",
                  depth_model=str(model), depth_input_size=56, shard_rows=10, workers=2, progress=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    local = tmp_path / "local"
    generate(GenerateOptions(out=str(local), **common))

    def no_model(*args, **kwargs):
        raise AssertionError("the Ray driver built the model")

    monkeypatch.setattr(depth_anything, "build_model", no_model)
    ray_out = tmp_path / "ray"
    generate(GenerateOptions(out=str(ray_out), engine="ray", **common))
    assert len(shard_hashes(local)) >= 3
    assert shard_hashes(ray_out) == shard_hashes(local)
    for name in ("README.md", "stats.json"):
        assert (ray_out / name).read_bytes() == (local / name).read_bytes()


@pytest.mark.parametrize("batch", [None, 1, 3, 4, 96, 128, 200, 256])
def test_ray_chunks_start_on_the_models_batch_boundaries(batch):
    """Every chunk starts where a batch of the local engine starts (None: the device's default
    batch, 4 or 128); chunks are no smaller than CHUNK_ROWS."""
    from fgbg_depth.engines.ray import CHUNK_ROWS, _chunk_rows, _chunks
    from fgbg_depth.plan import ShardSpec
    rows = _chunk_rows(batch)
    assert rows >= CHUNK_ROWS
    spec = ShardSpec("train", 1, 3, 1000, 1999)
    local_starts = {start for _, start, _ in spec.batches(batch or 4)} & {s for _, s, _ in spec.batches(batch or 128)}
    chunks = _chunks([spec], rows)
    assert chunks[0]["start"] == 1000 and chunks[-1]["stop"] == 1999
    assert {c["start"] for c in chunks} <= local_starts


@pytest.mark.slow
def test_the_depth_actor_takes_the_drivers_batch_size_from_the_job(tmp_path, small_inputs, monkeypatch, nyu_h5):
    """On a cluster the actors do not see the driver's environment: FGBG_DEPTH_BATCH reaches them
    with the job, and an actor whose batch would not divide its chunks refuses to run."""
    import dataclasses

    from fgbg_depth.engines.ray import _DepthActor
    from fgbg_depth.generate import GenerateOptions, prepare
    weights = nyu_h5
    bgs, fgs = small_inputs
    monkeypatch.delenv("FGBG_DEPTH_BATCH", raising=False)
    job = prepare(GenerateOptions(out=str(tmp_path / "out"), backgrounds=str(bgs), foregrounds=str(fgs),
                                  depth="densedepth", depth_weights=str(weights), depth_input_size=64,
                                  engine="ray", progress=False), load_model=False).job
    with_batch = dataclasses.replace(job, depth_options={**job.depth_options, "batch_size": 3})
    actor = _DepthActor(with_batch, 129)
    assert actor.error == "" and actor.worker.backend.batch_size == 3
    assert "does not divide" in _DepthActor(with_batch, 128).error


@pytest.mark.slow
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


def _read(pid: int, name: str) -> bytes:
    """/proc/<pid>/<name>, or nothing once the process is gone."""
    try:
        return (Path("/proc") / str(pid) / name).read_bytes()
    except OSError:
        return b""


def _ray_processes() -> set[int]:
    """Pids of Ray's own processes on this machine (raylet, GCS, agents, workers)."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return {pid for pid in pids if b"ray::" in _read(pid, "cmdline") or b"site-packages/ray/" in _read(pid, "cmdline")}


def _alive(pid: int) -> bool:
    state = _read(pid, "stat").rpartition(b") ")[2][:1]
    return state not in (b"", b"Z")  # gone, or a zombie


@pytest.mark.slow
def test_private_ray_is_stopped_with_all_its_processes(tmp_path, small_inputs):
    """The private Ray is stopped fast (the raylet stops its agents and workers, the rest is
    killed): nothing of it may outlive the command."""
    before = _ray_processes()
    bgs, fgs = small_inputs
    res = run_cli("generate", "--out", tmp_path / "out", "--backgrounds", bgs, "--foregrounds", fgs,
                  "--placements", "4", "--size", "40", "--workers", "2", "--engine", "ray", "--quiet",
                  env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Progress bars" not in res.stderr
    deadline = time.monotonic() + 15
    left = {p for p in _ray_processes() - before if _alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = {p for p in left if _alive(p)}
    assert not left, [_read(p, "cmdline")[:80] for p in left]


@pytest.mark.parametrize("how", ["flag", "RAY_ADDRESS"])
def test_unreachable_ray_address_is_one_line_at_once(tmp_path, small_inputs, how):
    """Ray itself retries an address nobody answers for many minutes; `ray job submit` passes the
    cluster as $RAY_ADDRESS, which is honoured like --ray-address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"  # closed again below: nothing listens there
    bgs, fgs = small_inputs
    args = ["generate", "--out", tmp_path / "out", "--backgrounds", bgs, "--foregrounds", fgs, "--engine", "ray",
            "--quiet"]
    res = run_cli(*args, *(["--ray-address", address] if how == "flag" else []),
                  env={"RAY_ADDRESS": address} if how == "RAY_ADDRESS" else None, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == f"fgbg-depth: error: cannot reach Ray at {address} (Connection refused)"
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_an_error_in_a_depth_actor_is_the_users_one_line(tmp_path, small_inputs, nyu_h5):
    """A depth actor that cannot load its model (here: a node without Keras, which the driver never
    imports) stops the run with that reason in one line, not Ray's wrapping of it."""
    weights = nyu_h5
    no_keras = tmp_path / "no_keras" / "keras"
    no_keras.mkdir(parents=True)
    (no_keras / "__init__.py").write_text("raise ImportError('no Keras on this node')\n")
    bgs, fgs = small_inputs
    res = run_cli("generate", "--out", tmp_path / "out", "--backgrounds", bgs, "--foregrounds", fgs,
                  "--placements", "2", "--size", "40", "--depth", "densedepth", "--depth-weights", weights,
                  "--depth-input-size", "64", "--workers", "2", "--engine", "ray", "--quiet",
                  env={"RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": os.pathsep.join(
                      [str(no_keras.parent), os.environ.get("PYTHONPATH", "")])})
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("fgbg-depth: error: DenseDepth needs TensorFlow and Keras 3"), last
    assert "Traceback" not in res.stderr


def test_a_bad_depth_batch_is_refused_before_ray_starts(tmp_path, small_inputs, nyu_h5):
    weights = nyu_h5
    before = _ray_processes()
    bgs, fgs = small_inputs
    res = run_cli("generate", "--out", tmp_path / "out", "--backgrounds", bgs, "--foregrounds", fgs,
                  "--depth", "densedepth", "--depth-weights", weights, "--depth-input-size", "64", "--engine", "ray",
                  "--quiet", env={"RAY_USAGE_STATS_ENABLED": "0", "FGBG_DEPTH_BATCH": "many"})
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.strip().splitlines() == ["fgbg-depth: error: FGBG_DEPTH_BATCH must be a positive whole "
                                               "number, got 'many'"]
    assert not {p for p in _ray_processes() - before if _alive(p)}


@pytest.mark.slow
def test_private_ray_requires_the_auth_token_as_ray_init_would():
    """Its GCS and raylet listen on every interface: they must run in token mode, as a cluster
    started by plain ray.init does."""
    import ray

    from fgbg_depth.engines.ray import _start_private
    saved = os.environ.pop("RAY_AUTH_MODE", None)
    before = _ray_processes()
    stop = _start_private(ray, 1)
    try:
        started = _ray_processes() - before
        servers = [p for p in started if b"gcs_server" in _read(p, "cmdline") or b"raylet/raylet" in _read(p, "cmdline")]
        assert len(servers) == 2
        for pid in servers:
            assert b"RAY_AUTH_MODE=token" in _read(pid, "environ").split(b"\0")
        assert ray.get(ray.remote(lambda: 41 + 1).remote()) == 42
    finally:
        stop()
        os.environ.pop("RAY_AUTH_MODE", None)
        if saved is not None:
            os.environ["RAY_AUTH_MODE"] = saved
