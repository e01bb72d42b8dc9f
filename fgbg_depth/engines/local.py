"""The local engine: shards in a pool of processes on this machine.

Without a model (planar depth, or none) each worker process makes whole shards, one in flight per
worker. With a model (Depth Anything, DenseDepth), the model is loaded once, in this process, and fed
by the pool:

    pool: composite + encode one batch ──shared memory──▶ this process: model (GPU) ──▶
    pool: encode depth ──▶ pool: assemble and write the shard once all its batches are back

Batches are cut at the same rows as in a single process (every `batch_size` rows from each
shard's start), so the model sees the same batches and the shards come out byte-identical
whatever the worker count.
"""

from __future__ import annotations

import itertools
import mmap
import multiprocessing
import os
import pickle
import queue
import shutil
import tempfile
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import FgBgError
from ..plan import ShardSpec
from ..contract import state_path
from ..stages.encode import Piece
from ..stages.job import Job
from ..worker import ShapeOnly, ShardWorker

_worker: ShardWorker | None = None
_slots: np.ndarray | None = None
SLOT_PREFIX = "fgbg-depth-slots-"
MAX_FEEDING = 32  # batches being composited for the model at once, at most


@contextmanager
def _spawn_pool(job: Job, workers: int, slots: tuple | None = None) -> Iterator[ProcessPoolExecutor]:
    """`workers` spawned processes (no inherited threads or GPU state: safe everywhere), each set up
    by `_init`; leaving cancels the work not yet started and waits for the rest.

    The job reaches them as a file, so that starting a worker sends only a path: CPython writes a
    spawned worker's start-up data into a pipe whose reading end it still holds, so a worker that
    dies before reading (a script calling generate() without the `__main__` guard, the OOM killer)
    hung the run for ever once that data outgrew the pipe (64 KiB: the plan's split ids, from about
    a thousand samples)."""
    folder = state_path(job.out, "tmp")
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="job-", suffix=".pkl", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(job, f, protocol=pickle.HIGHEST_PROTOCOL)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init, initargs=(path, slots))
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        Path(path).unlink(missing_ok=True)


def _init(job_path: str, slots: tuple | None = None) -> None:
    global _worker, _slots
    with open(job_path, "rb") as f:
        job = pickle.load(f)
    if slots is None:
        _worker = ShardWorker(job)
    else:  # a feeder of the model in the parent: composites only, into the shared slots
        _worker = ShardWorker(job, backend=ShapeOnly(job.depth_options.get("input_size")))
        _slots = SlotRing.attach(*slots)


def _make(spec: ShardSpec) -> dict:
    return _worker.make(spec)


def _broken() -> FgBgError:
    return FgBgError("a worker process died (out of memory?); run the same command again to "
                     "resume, perhaps with fewer --workers")


def run_local(job: Job, specs: Iterable[ShardSpec], workers: int, backend=None) -> Iterator[dict]:
    """Yield each shard's result as it finishes. A given backend (a loaded model) runs in this
    process, fed by `workers` processes; `workers == 1` runs everything in this process."""
    specs = list(specs)
    if not specs:
        return
    if workers <= 1 or (backend is None and len(specs) <= 1):
        worker = ShardWorker(job, backend=backend)
        for spec in specs:
            yield worker.make(spec)
        return
    if backend is not None:
        if not hasattr(backend, "dispatch_units"):
            raise ValueError("a shared backend must be a model with dispatch_units (see depth/runner.py)")
        yield from _run_fed(job, specs, workers, backend)
        return
    pending = iter(specs)
    try:
        with _spawn_pool(job, workers) as pool:
            # keep exactly `workers` shards submitted: memory stays flat however many shards there are
            running = {pool.submit(_make, spec) for spec in itertools.islice(pending, workers)}
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    nxt = next(pending, None)
                    if nxt is not None:
                        running.add(pool.submit(_make, nxt))
    except BrokenProcessPool:
        raise _broken() from None


# -- a model in this process, fed by a pool ------------------------------------------------------

class SlotRing:
    """Fixed-size uint8 slots in one shared file mapping: the pool writes composites at the model's
    size into them, this process hands them to the model without copying them through a pipe.
    The file lives in /dev/shm when it has room, else in `spill` (the run's own temporary folder)."""

    def __init__(self, count: int, shape: tuple, spill: Path, shm: str = "/dev/shm"):
        self.count, self.shape = count, tuple(shape)
        size = count * int(np.prod(self.shape))
        folder = shm if _room(shm, size) else str(spill)
        Path(folder).mkdir(parents=True, exist_ok=True)
        _sweep_orphans(folder)
        fd, self.path = tempfile.mkstemp(prefix=f"{SLOT_PREFIX}{os.getpid()}-", dir=folder)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
        self.array = SlotRing.attach(self.path, self.count, self.shape)

    @staticmethod
    def attach(path: str, count: int, shape: tuple) -> np.ndarray:
        with open(path, "r+b") as f:
            mapped = mmap.mmap(f.fileno(), 0)
        return np.frombuffer(mapped, dtype=np.uint8).reshape(count, *shape)

    def spec(self) -> tuple:
        return self.path, self.count, self.shape

    def close(self) -> None:
        Path(self.path).unlink(missing_ok=True)


def _sweep_orphans(folder: str) -> None:
    """Remove the slot files of runs that were killed (their process is gone): in /dev/shm they
    would hold memory until the machine restarts."""
    for path in Path(folder).glob(f"{SLOT_PREFIX}*"):
        pid = path.name[len(SLOT_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)


def _room(folder: str, size: int) -> bool:
    try:
        return shutil.disk_usage(folder).free > size + (256 << 20)
    except OSError:
        return False


def _compose_into(split: str, start: int, stop: int, slot: int) -> Piece:
    """Composite one batch; its model inputs go to `slot`, the encoded rows come back."""
    # every task here hands its stage times on with its piece (take_seconds), so each starts at zero
    ids = _worker.job.plan.split_ids(split)[start:stop]
    made, (images, _) = _worker.compose_batch(ids)
    _slots[slot, :len(ids)] = images
    return _worker.encode_images(ids, made).add_seconds(_worker.take_seconds())


def _encode_depth(piece: Piece, units: np.ndarray) -> Piece:
    return _worker.encode_depth(piece, units).add_seconds(_worker.take_seconds())


def _write(spec: ShardSpec, pieces: list[Piece]) -> dict:
    return _worker.write(spec, *_worker.table_from(pieces))


class _ModelThread:
    """Runs the model in a thread of this process, keeping two batches on the device so that it
    never waits for Python; each submitted batch gets a Future of its depth units."""

    def __init__(self, backend, job: Job):
        self.backend, self.job, self.quantum = backend, job, job.depth_quantum
        self.inbox: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="fgbg-depth-model", daemon=True)
        self.thread.start()

    def submit(self, images: np.ndarray) -> Future:
        fut: Future = Future()
        self.inbox.put((images, fut))
        return fut

    def close(self) -> None:
        """Finish the batches on the device; batches not yet started are dropped (after an error)."""
        try:
            while True:
                self.inbox.get_nowait()[1].cancel()
        except queue.Empty:
            pass
        self.inbox.put(None)
        self.thread.join()

    def _loop(self) -> None:
        in_flight: deque = deque()
        job = self.job
        while True:
            if in_flight and (len(in_flight) >= 2 or self.inbox.empty()):
                self._settle(*in_flight.popleft())
                continue
            item = self.inbox.get()
            if item is None:
                for waiting in in_flight:
                    self._settle(*waiting)
                return
            images, fut = item
            if not fut.set_running_or_notify_cancel():  # the run stopped; from here cancel() cannot
                continue  # race the result (set_result on a cancelled future raises in this thread)
            t0 = time.perf_counter()
            try:
                handle = self.backend.dispatch_units(images, job.size, job.depth_scale, self.quantum)
            except BaseException as exc:  # reported to the waiting engine, which stops the run
                fut.set_exception(exc)
                continue
            in_flight.append((fut, handle, t0))

    def _settle(self, fut: Future, handle, t0: float) -> None:
        try:
            fut.set_result((self.backend.fetch(handle), time.perf_counter() - t0))
        except BaseException as exc:
            fut.set_exception(exc)


def _run_fed(job: Job, specs: list[ShardSpec], workers: int, backend) -> Iterator[dict]:
    batch = int(backend.batch_size)
    chunks = deque((spec, *where) for spec in specs for where in spec.batches(batch))
    parts = Counter((spec.split, spec.index) for spec, *_ in chunks)
    # one slot per composing worker (a GPU needs ~8 cores' composites; more slots only hold memory:
    # 77 MB each at batch 128 and 448 px) and 4 for the batches at the model
    ring = SlotRing(min(workers, MAX_FEEDING) + 4, (batch, *backend.input_size, 3), state_path(job.out, "tmp"))
    model = _ModelThread(backend, job)
    free = list(range(ring.count))
    running: dict[Future, tuple] = {}
    done_parts: dict[tuple, dict[int, Piece]] = {}
    try:
        with _spawn_pool(job, workers, ring.spec()) as pool:
            while chunks or running:
                while chunks and free:  # a batch is composited only when a slot is free for it
                    spec, part, start, stop = chunks.popleft()
                    slot = free.pop()
                    running[pool.submit(_compose_into, spec.split, start, stop, slot)] = ("compose", spec, part, slot)
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    kind, spec, part, extra = running.pop(fut)
                    if kind == "compose":
                        piece, slot = fut.result(), extra
                        running[model.submit(ring.array[slot, :len(piece.ids)])] = ("depth", spec, part, (slot, piece))
                    elif kind == "depth":
                        (units, seconds), (slot, piece) = fut.result(), extra
                        free.append(slot)
                        piece.add_seconds({"depth": seconds})
                        running[pool.submit(_encode_depth, piece, units)] = ("encode", spec, part, None)
                    elif kind == "encode":
                        key = (spec.split, spec.index)
                        done_parts.setdefault(key, {})[part] = fut.result()
                        if len(done_parts[key]) == parts[key]:
                            got = done_parts.pop(key)
                            running[pool.submit(_write, spec, [got[i] for i in range(len(got))])] = \
                                ("write", spec, None, None)
                    else:
                        yield fut.result()
    except BrokenProcessPool:
        raise _broken() from None
    finally:
        for fut in running:
            fut.cancel()
        model.close()
        ring.close()
