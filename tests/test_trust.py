"""Trust at the sizes people use: `verify` agrees with `generate` on the README's default sample and
on many-row-group shards, and one writer per output folder."""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import run_cli
from fgbg_depth import read_card_metadata
from fgbg_depth.errors import FgBgError
from fgbg_depth.lock import FolderLock, lock_path
from fgbg_depth.shards import arrow_nbytes


def start_generate(out, *args):
    return subprocess.Popen([sys.executable, "-m", "fgbg_depth", "generate", "--out", str(out), "--quiet",
                             *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def card_splits(out):
    meta = read_card_metadata((out / "README.md").read_text())
    info = next(i for i in meta["dataset_info"] if i["config_name"] == "default")
    return {s["name"]: s for s in info["splits"]}


def assert_one_line_refusal(stderr, *needles):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fgbg-depth: error:"), stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory):
    """What `bash scripts/sample.sh` makes: the bundled inputs with every default (20 placements)."""
    out = tmp_path_factory.mktemp("default") / "sample-out"
    res = run_cli("generate", "--out", out, "--quiet")
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.slow
def test_verify_passes_on_the_readme_default_sample(default_sample):
    res = run_cli("verify", default_sample)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1792 train, 768 test" in res.stdout
    # the shards have many row groups: the case where reader-dependent Arrow sizes disagreed
    assert pq.ParquetFile(default_sample / "data" / "train-00000-of-00001.parquet").num_row_groups >= 10


def test_num_bytes_does_not_depend_on_how_the_shard_is_read(default_sample):
    path = default_sample / "data" / "train-00000-of-00001.parquet"
    pf = pq.ParquetFile(path)
    whole = arrow_nbytes(pf.read())
    by_group = arrow_nbytes(pa.concat_tables(pf.read_row_group(i) for i in range(pf.num_row_groups)))
    batched = arrow_nbytes(pa.Table.from_batches(list(pf.iter_batches(batch_size=37))))
    assert whole == by_group == batched == card_splits(default_sample)["train"]["num_bytes"]
    # the buffer sizes the readers allocate do differ: that is why the card cannot use them
    assert len({pf.read().nbytes, pa.Table.from_batches(list(pf.iter_batches(batch_size=37))).nbytes}) == 2


@pytest.mark.slow
def test_verify_passes_on_many_shards_with_many_row_groups(tmp_path):
    out = tmp_path / "out"
    res = run_cli("generate", "--out", out, "--shard-rows", "700", "--workers", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    shards = sorted((out / "data").glob("*.parquet"))
    groups = [pq.ParquetFile(p).num_row_groups for p in shards]
    assert len(shards) == 5 and sum(groups) >= 20 and max(groups) == 7, groups
    res = run_cli("verify", out, "--workers", "2")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow
def test_verify_recomputes_channel_stats_from_the_shards(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    assert run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "2",
                   "--size", "48", "--shard-rows", "10", "--quiet").returncode == 0
    assert run_cli("verify", out).returncode == 0
    stats_file = out / "stats.json"
    stats = json.loads(stats_file.read_text())
    stats["channel_stats"]["train"]["fg_bg"]["mean"][0] += 1e-9
    stats_file.write_text(json.dumps(stats))
    card = out / "README.md"  # the card says the same edited figure, so only the shards can tell
    meta_text = card.read_text()
    old = json.loads((out / ".fgbg-depth" / "report.json").read_text())["channel_stats"]["train"]["fg_bg"]["mean"][0]
    card.write_text(meta_text.replace(repr(old), repr(old + 1e-9), 1))
    res = run_cli("verify", out)
    assert res.returncode == 1
    assert "stats.json: train/fg_bg differs from the statistics of the shards" in res.stdout


@pytest.mark.slow
def test_verify_checks_the_sources_config(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    assert run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1",
                   "--size", "32", "--quiet").returncode == 0
    card = out / "README.md"
    meta = read_card_metadata(card.read_text())
    info = next(i for i in meta["dataset_info"] if i["config_name"] == "sources")
    n = next(s for s in info["splits"] if s["name"] == "backgrounds")["num_bytes"]
    card.write_text(card.read_text().replace(f"num_bytes: {n}\n", f"num_bytes: {n + 1}\n", 1))
    res = run_cli("verify", out)
    assert res.returncode == 1 and "sources/backgrounds num_bytes" in res.stdout


# -- one writer per folder --------------------------------------------------------------------

def test_lock_is_exclusive_for_writers_and_shared_for_readers(tmp_path):
    out = tmp_path / "out"
    with FolderLock(out, "push"), FolderLock(out, "verify"):  # readers side by side
        with pytest.raises(FgBgError) as refused:
            FolderLock(out, "generate").acquire()
    assert "being pushed" in str(refused.value) or "being verified" in str(refused.value)
    assert f"pid {os.getpid()}" in str(refused.value)
    with FolderLock(out, "generate"):
        with pytest.raises(FgBgError) as refused:
            FolderLock(out, "push").acquire()
        msg = str(refused.value)
        assert "being written by another fgbg-depth command" in msg and "`fgbg-depth generate`" in msg
        assert "wait for it to finish" in msg and "\n" not in msg
    assert not out.exists()  # a lock that made the folder and saw nothing written takes it away again


@pytest.mark.slow
def test_two_writers_with_different_arguments(tmp_path):
    out = tmp_path / "out"
    first = start_generate(out, "--placements", "20", "--depth", "planar")
    time.sleep(0.15)
    second = start_generate(out, "--placements", "21", "--depth", "planar")
    results = [(p.wait(timeout=300), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert "Traceback" not in loser and "internal error" not in loser
    # both overlap (a run takes seconds): the loser is refused by the lock, not by the other's manifest
    assert_one_line_refusal(loser, "is being written by another fgbg-depth command", "`fgbg-depth generate`")
    res = run_cli("verify", out)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow
def test_two_writers_with_the_same_arguments(tmp_path):
    out = tmp_path / "out"
    runs = [start_generate(out, "--placements", "10", "--depth", "planar")]
    time.sleep(0.15)
    runs.append(start_generate(out, "--placements", "10", "--depth", "planar"))
    results = [(p.wait(timeout=300), *p.communicate()) for p in runs]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    for code, _, err in results:
        assert "Traceback" not in err and "internal error" not in err, results
        if code == 2:
            assert_one_line_refusal(err, "being written", "run this command again")
    assert run_cli("verify", out).returncode == 0


def wait_for_holder(out, command, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if json.loads(lock_path(out).read_text()).get("command") == command:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    pytest.fail(f"no {command} took the lock")


@pytest.mark.slow
def test_sigkilled_writer_leaves_no_lock_that_blocks_the_rerun(tmp_path):
    out = tmp_path / "out"
    common = ["--placements", "40", "--depth", "planar", "--shard-rows", "300", "--workers", "2"]
    proc = start_generate(out, *common)
    wait_for_holder(out, "generate")
    busy = run_cli("verify", out)  # refused while the run writes, not reported half-made
    if proc.poll() is None:
        assert busy.returncode == 2 and "being written" in busy.stderr, busy.stderr
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock_path(out).exists()  # the file stays; the lock went with the process
    res = run_cli("generate", "--out", out, "--quiet", *common)
    assert res.returncode == 0, res.stderr
    assert run_cli("verify", out).returncode == 0


def test_a_failed_first_run_leaves_no_folder_behind(tmp_path):
    out = tmp_path / "never"
    res = run_cli("generate", "--out", out, "--backgrounds", tmp_path / "missing", "--quiet")
    assert res.returncode == 2 and "does not exist" in res.stderr
    assert not out.exists()


def test_push_of_a_folder_being_written_is_refused(tmp_path, small_inputs):
    bgs, fgs = small_inputs
    out = tmp_path / "out"
    assert run_cli("generate", "--out", out, "--backgrounds", bgs, "--foregrounds", fgs, "--placements", "1",
                   "--size", "32", "--quiet").returncode == 0
    with FolderLock(out, "generate"):  # as a resumed run into this folder would hold it
        res = run_cli("push", out, "user/data", env={"HF_TOKEN": "hf_unused", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert res.returncode == 2
    assert_one_line_refusal(res.stderr, "being written", f"pid {os.getpid()}")
