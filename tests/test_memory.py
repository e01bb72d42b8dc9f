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
import json, resource, sys, time
if sys.argv[1] == "tuned":
    from fgbg_depth import memory
    memory.tune_for_shards()
import numpy as np
import pyarrow as pa

def batch():
    # what a worker takes and frees each batch and shard: Arrow buffers of a few MiB (a shard's table,
    # its read-back), written through, and a NumPy buffer of a few MiB (a batch's decoded composites)
    buffers = [pa.allocate_buffer(3 << 20) for _ in range(4)]
    for b in buffers:
        np.ndarray((b.size,), np.uint8, buffer=memoryview(b))[::4096] = 1
    decoded = np.empty(6 << 20, np.uint8)
    decoded[::4096] = 1
    del buffers, decoded
    time.sleep(0.05)  # longer than mimalloc's delay before it hands freed pages back

for _ in range(3):  # warm: the heap grown to what a batch takes
    batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    batch()
print(json.dumps({"faults_per_batch": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20,
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
def test_a_worker_reuses_its_memory_from_batch_to_batch():
    """The buffers a worker takes and frees each batch, taken again: with the allocators as memory.py
    sets them, no page is faulted in afresh; as they come, Arrow's mimalloc hands freed pages back and
    faults them in again (about 90 a round here). This drives the allocators directly: a whole
    pipeline run no longer shows it reliably, since the depth stage stopped allocating a float64 copy
    of every batch (the planar prior's sums come from its rows), which was most of the faults. It
    holds the Arrow half (this pattern does not make glibc's own malloc trim, tuned or not; that
    glibc is tuned at all is test_tuning_is_said_and_done_once's)."""
    untuned = _child(CHILD, "untuned")
    if untuned["arrow_pool"] == "system":
        pytest.skip("this pyarrow has no allocator of its own to move away from")
    tuned = _child(CHILD, "tuned")
    assert tuned["arrow_pool"] == "system"
    assert tuned["faults_per_batch"] < 5 and untuned["faults_per_batch"] > 20, (tuned, untuned)


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
