"""memory.py: a process that builds shards keeps the memory it frees for the next batch, instead of
faulting fresh pages in for every buffer (issue #26: ~5% of a sample at 448 px was the kernel's)."""

import json
import os
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
from fgbg_depth.stages import depthmap
depthmap.of_objects = lambda backend: False  # every batch's depth summed back, as a model's maps are
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
passes = []
for _ in range(2):  # the fewer of two passes' faults: a stray fault of this machine's is not the allocators'
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for spec in specs:
        worker.make(spec)
    passes.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"faults_per_sample": min(passes) / prep.job.plan.n_samples,
                  "arrow_pool": pa.default_memory_pool().backend_name}))
"""


def _clean_env(**extra) -> dict:
    """This environment without the variables that choose an allocator (which memory.py defers to)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "GLIBC_TUNABLES", "LD_PRELOAD")
           and not (k.startswith("MALLOC_") and k.endswith("_"))}
    return {**env, **extra}


def _child(code: str, *args: str, env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env=env or _clean_env())
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="page faults counted as Linux counts them, malloc tuned where it is glibc's")
def test_a_worker_reuses_its_memory_from_shard_to_shard():
    """A third and fourth pass over the same shards, at 320 px, each batch's depth summed back from
    its maps (as a model's are: the planar prior's own path works its sums out without the float64
    copy that faulted most pages): with the allocators as memory.py sets them, a few page faults per sample at
    most (often none); as they come, several times as many (15-25 here: Arrow's mimalloc and
    glibc's malloc hand the pages back and fault them in again). The untuned run swaps out the
    worker's own call, so this also holds that ShardWorker tunes them."""
    photos = str(ROOT / "bench" / "small_photos")
    untuned = _child(CHILD, "untuned", photos)
    if untuned["arrow_pool"] == "system":
        pytest.skip("this pyarrow has no allocator of its own to move away from")
    tuned = _child(CHILD, "tuned", photos)
    assert tuned["arrow_pool"] == "system"
    assert tuned["faults_per_sample"] * 4 < untuned["faults_per_sample"], (tuned, untuned)


TUNE = r"""
import json
import pyarrow as pa
before = pa.default_memory_pool().backend_name
from fgbg_depth import memory
first = memory.tune_for_shards()
print(json.dumps({"before": before, "first": first, "again": memory.tune_for_shards()}))
"""


def test_tuning_is_said_and_done_once():
    got = _child(TUNE)
    assert got["first"] == got["again"] == {"arrow_pool": "system", "glibc": platform.libc_ver()[0] == "glibc"}


def test_an_allocator_chosen_by_the_user_is_kept():
    """ARROW_DEFAULT_MEMORY_POOL leaves pyarrow's pool as the user set it; a MALLOC_*_ variable or a
    glibc.malloc tunable leaves glibc's malloc as it is."""
    got = _child(TUNE, env=_clean_env(ARROW_DEFAULT_MEMORY_POOL="mimalloc", MALLOC_ARENA_MAX="2",
                                      MALLOC_TOP_PAD_="0"))
    assert got["first"] == {"arrow_pool": got["before"], "glibc": False}
    got = _child(TUNE, env=_clean_env(GLIBC_TUNABLES="glibc.malloc.trim_threshold=1000000"))
    assert got["first"] == {"arrow_pool": "system", "glibc": False}
