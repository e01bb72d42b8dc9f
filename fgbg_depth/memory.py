"""How a process that builds shards takes its memory: buffers of the same few sizes, over and over.

Every batch allocates and frees the same buffers (composites, decoded pictures, depth maps, a
shard's bytes, its table read back). With the allocators' defaults much of that memory goes back
to the kernel when freed and comes back as fresh pages, each faulted in and zeroed by the kernel:
at 448 px about ten page faults and 0.2 ms of kernel time a sample (~5%). Two settings keep it in
the process instead, for the process's life:

- pyarrow's default pool (the tables and arrays made from Python, the shard read back) allocates
  from the C library's malloc rather than Arrow's bundled mimalloc, so Arrow's buffers and NumPy's
  share one heap. (Parquet's own page buffers take Arrow's C++ default pool, which only the
  ARROW_DEFAULT_MEMORY_POOL variable, read when pyarrow loads, can change; they stay in mimalloc.)
- glibc's malloc serves blocks up to 32 MiB (its largest setting on 64-bit) from its heap instead of
  a fresh mapping each, and keeps up to 256 MiB of freed heap rather than trimming it.

Measured on the small photos at 448 px (bench/pipeline_bench.py's workload, one core): page faults
per sample 10 → under 1, kernel time 0.2 → 0.05 ms, the whole sample 5-10% less, and peak memory no
higher (the same buffers are reused rather than remapped). Neither setting gained anything
measurable alone. Other C libraries (musl, macOS, Windows) keep their own defaults: only pyarrow's
pool is set there. A process started with its own choice keeps it: ARROW_DEFAULT_MEMORY_POOL leaves
pyarrow's pool alone, and GLIBC_TUNABLES naming glibc.malloc or any MALLOC_*_ variable leaves malloc.
"""

from __future__ import annotations

import ctypes
import os
import platform

import pyarrow as pa

# glibc's maximum (DEFAULT_MMAP_THRESHOLD_MAX): larger blocks are still mapped (and unmapped) each time
MMAP_THRESHOLD = (32 << 20) if ctypes.sizeof(ctypes.c_void_p) == 8 else (512 << 10)
TRIM_THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)

_tuned: dict | None = None


def tune_for_shards() -> dict:
    """Set this process's allocators for building shards (once; later calls change nothing) and say
    what was set: {"arrow_pool": the pool pyarrow allocates from, "glibc": True if malloc's
    thresholds were set}."""
    global _tuned
    if _tuned is None:
        if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
            pa.set_memory_pool(pa.system_memory_pool())
        _tuned = {"arrow_pool": pa.default_memory_pool().backend_name, "glibc": _tune_glibc()}
    return dict(_tuned)


def _malloc_chosen_by_user() -> bool:
    return "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") or \
        any(name.startswith("MALLOC_") and name.endswith("_") for name in os.environ)


def _tune_glibc() -> bool:
    if platform.libc_ver()[0] != "glibc" or _malloc_chosen_by_user():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mmap_set = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))  # 1 when taken, 0 when refused
    trim_set = bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return mmap_set and trim_set
