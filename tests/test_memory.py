"""memory.py: a process that builds shards keeps the memory it frees for the next batch, instead of
faulting fresh pages in for every buffer (issue #26: ~5% of a sample at 448 px was the kernel's)."""

import json
import platform
import subprocess
import sys

import pytest

from conftest import ROOT

CHILD = r"""
import json, resource, sys, tempfile
if sys.argv[1] == "untuned":  # the same run with the allocators left as they come
    import fgbg_depth.worker as worker
    worker.tune_for_shards = lambda: {}
import pyarrow as pa
from fgbg_depth.generate import GenerateOptions, prepare
from fgbg_depth.worker import ShardWorker
prep = prepare(GenerateOptions(out=tempfile.mkdtemp(), backgrounds=sys.argv[2] + "/backgrounds",
                               foregrounds=sys.argv[2] + "/foregrounds", placements=3, size=320,
                               depth="planar", shard_rows=150, progress=False))
worker = ShardWorker(prep.job, backend=prep.backend)
specs = list(prep.job.plan.all_shards())
for _ in range(2):  # warm: the inputs decoded, the heap grown to what a shard takes
    for spec in specs:
        worker.make(spec)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for spec in specs:
    worker.make(spec)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults_per_sample": faults / prep.job.plan.n_samples,
                  "arrow_pool": pa.default_memory_pool().backend_name}))
"""


def _run(variant: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, variant, str(ROOT / "bench" / "small_photos")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux", reason="page faults counted as Linux counts them")
def test_a_worker_reuses_its_memory_from_shard_to_shard():
    """A third pass over the same shards, at 320 px: with the allocators as memory.py sets them,
    a few page faults per sample at most (often none); as they come, several times as many (about
    40-60 here: Arrow's mimalloc and glibc's malloc hand the pages back and fault them in again)."""
    tuned, untuned = _run("tuned"), _run("untuned")
    assert tuned["arrow_pool"] == "system" and untuned["arrow_pool"] != "system"
    assert tuned["faults_per_sample"] * 4 < untuned["faults_per_sample"], (tuned, untuned)


def test_tuning_is_said_and_done_once():
    from fgbg_depth import memory
    first = memory.tune_for_shards()
    assert first["arrow_pool"] == "system"
    assert first["glibc"] == (platform.libc_ver()[0] == "glibc")
    assert memory.tune_for_shards() == first
