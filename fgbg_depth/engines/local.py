"""The local engine: shards in a pool of processes on this machine, one shard in flight per worker."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator

from ..errors import FgBgError
from ..plan import ShardSpec
from ..worker import Job, ShardWorker

_worker: ShardWorker | None = None


def _init(job: Job) -> None:
    global _worker
    _worker = ShardWorker(job)


def _make(spec: ShardSpec) -> dict:
    return _worker.make(spec)


def run_local(job: Job, specs: Iterable[ShardSpec], workers: int, backend=None) -> Iterator[dict]:
    """Yield each shard's result as it finishes. `workers == 1` (or a given backend, such as a
    loaded GPU model) runs in this process; otherwise a spawn-started pool runs the shards."""
    specs = list(specs)
    if workers <= 1 or backend is not None or len(specs) <= 1:
        # with a shared model (one GPU), composition uses threads in this process instead of processes
        worker = ShardWorker(job, backend=backend, threads=workers if backend is not None else 1)
        for spec in specs:
            yield worker.make(spec)
        return
    ctx = multiprocessing.get_context("spawn")  # no inherited threads or GPU state: safe everywhere
    pending = iter(specs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init, initargs=(job,)) as pool:
        running = set()
        try:
            # keep exactly `workers` shards submitted: memory stays flat however many shards there are
            for spec in pending:
                running.add(pool.submit(_make, spec))
                if len(running) >= workers:
                    break
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    nxt = next(pending, None)
                    if nxt is not None:
                        running.add(pool.submit(_make, nxt))
        except BrokenProcessPool:
            raise FgBgError("a worker process died (out of memory?); run the same command again to "
                            "resume, perhaps with fewer --workers") from None
        except BaseException:
            for fut in running:
                fut.cancel()
            raise
