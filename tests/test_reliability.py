"""Interrupted runs, a full disk, and `fgbg-depth verify` catching damage."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli
from test_generate import shard_hashes


def verify(out):
    return run_cli("verify", out)


def test_verify_passes_on_a_clean_run(sample_out):
    res = verify(sample_out)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "OK" in res.stdout and "masks binary" in res.stdout


@pytest.fixture
def fresh(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    res = run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "3",
                  "--size", "48", "--shard-rows", "10", "--quiet")
    assert res.returncode == 0, res.stderr
    assert verify(out).returncode == 0
    return out


@pytest.mark.slow
def test_verify_catches_a_flipped_byte(fresh):
    shard = sorted((fresh / "data").glob("train-*"))[1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0x40
    shard.write_bytes(bytes(data))
    res = verify(fresh)
    assert res.returncode == 1
    assert shard.name in res.stdout and "sha256 mismatch" in res.stdout


@pytest.mark.slow
def test_verify_catches_edited_card_counts(fresh):
    card = fresh / "README.md"
    text = card.read_text()
    card.write_text(text.replace("num_examples: ", "num_examples: 1", 1))
    res = verify(fresh)
    assert res.returncode == 1 and "num_examples" in res.stdout


@pytest.mark.slow
def test_verify_catches_missing_shard_and_stray_file(fresh):
    sorted((fresh / "data").glob("test-*"))[0].unlink()
    (fresh / "data" / "train-00099-of-00100.parquet").write_bytes(b"PAR1")
    res = verify(fresh)
    assert res.returncode == 1
    assert "missing" in res.stdout and "not part of this run's plan" in res.stdout


def test_verify_on_a_folder_that_is_not_a_dataset(tmp_path):
    res = verify(tmp_path)
    assert res.returncode == 2 and "manifest.json" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_kills_at_random_moments_then_resume_is_byte_identical(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    common = ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "300", "--size", "96",
              "--shard-rows", "40", "--workers", "2", "--quiet"]
    ref = tmp_path / "ref"
    assert run_cli("generate", "--out", ref, *common).returncode == 0
    out = tmp_path / "out"
    rng = random.Random(1234)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-m", "fgbg_depth", "generate", "--out", str(out),
                                 *map(str, common)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.5, 2.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker processes, without warning
            kills += 1
        proc.wait()
        for shard in (out / "data").glob("*.parquet"):  # whatever is under a final name is whole
            assert shard.stat().st_size > 0
    assert kills >= 2
    res = run_cli("generate", "--out", out, *common)
    assert res.returncode == 0, res.stderr
    assert shard_hashes(out) == shard_hashes(ref)
    for name in ("README.md", "stats.json"):
        assert (out / name).read_bytes() == (ref / name).read_bytes()
    assert not list(out.rglob("*.tmp")) and not (out / ".fgbg-depth" / "tmp").exists()
    assert verify(out).returncode == 0


def test_workers_that_die_at_start_end_the_run_instead_of_hanging_it(tmp_path):
    """A script that calls generate() without the `__main__` guard: each spawned worker re-runs the
    script and dies before it starts. The run must stop with the engine's error. It used to hang
    for ever once the job sent to each starting worker outgrew a pipe (here 10k samples)."""
    script = tmp_path / "unguarded.py"
    script.write_text("from fgbg_depth.generate import GenerateOptions, generate\n"
                      f"generate(GenerateOptions(out={str(tmp_path / 'out')!r}, placements=79, depth='planar', "
                      "workers=2, progress=False))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    try:
        res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                             cwd=tmp_path, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("the run hung after its worker processes died")
    assert res.returncode != 0
    assert "a worker process died" in res.stderr.strip().splitlines()[-1]


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs to make a small disk")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.parametrize("engine", ["local", "ray"])
@pytest.mark.slow
def test_full_disk_is_a_clear_error_and_resumes(small_disk, tmp_path, small_inputs, engine):
    """With Ray the disk fills inside a Ray task: the user still gets the one line."""
    if engine == "ray":
        pytest.importorskip("ray")
    bgs, fgs = small_inputs
    common = ["--backgrounds", bgs, "--foregrounds", fgs, "--placements", "20", "--size", "64",
              "--shard-rows", "20", "--workers", "1", "--quiet", "--engine", engine]
    out = small_disk / "out"
    res = run_cli("generate", "--out", out, *common, env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert res.returncode == 2, res.stderr
    assert "disk full" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2  # the depth note and the error
    import pyarrow.parquet as pq
    for shard in (out / "data").glob("*.parquet"):
        pq.read_table(shard)  # every shard under a final name is complete
    assert not list((out / ".fgbg-depth").rglob("*.tmp"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    res = run_cli("generate", "--out", out, *common)
    assert res.returncode == 0, res.stderr
    ref = tmp_path / "ref"
    assert run_cli("generate", "--out", ref, *common).returncode == 0
    assert shard_hashes(out) == shard_hashes(ref)
    assert verify(out).returncode == 0


@pytest.mark.slow
def test_report_records_counts_skips_timings_versions(fresh):
    report = json.loads((fresh / ".fgbg-depth" / "report.json").read_text())
    assert report["num_samples"] == 3 * 2 * 2 * 3
    assert set(report["timings_s"]) >= {"prepare", "shards", "finalize"}
    assert {"compose", "depth", "encode", "write"} <= set(report["stage_seconds"])
    assert report["versions"]["pyarrow"] and report["versions"]["pillow"]
    assert report["skipped"] == []


def test_the_model_thread_survives_batches_cancelled_while_on_the_device():
    """A run that stops on an error cancels the futures it still holds, some of them for batches
    the model thread is running: their results must be dropped quietly, not raise in the thread
    (which printed a traceback)."""
    import threading

    import numpy as np

    from fgbg_depth.engines.local import _ModelThread

    class SlowModel:
        def dispatch_units(self, images, *args):
            time.sleep(0.05)
            return images

        def fetch(self, handle):
            time.sleep(0.05)
            return handle

    class Job:
        size, depth_scale, depth_quantum = 8, 1.0, 64

    errors = []
    old_hook, threading.excepthook = threading.excepthook, lambda args: errors.append(args.exc_value)
    try:
        model = _ModelThread(SlowModel(), Job())
        futures = [model.submit(np.zeros((1, 8, 8, 3), np.uint8)) for _ in range(6)]
        time.sleep(0.02)  # the first batch is on the "device"
        for fut in futures:
            fut.cancel()
        model.close()
    finally:
        threading.excepthook = old_hook
    assert errors == []
    assert all(f.done() for f in futures)
