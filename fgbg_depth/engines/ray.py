"""The Ray engine: one Ray Data pipeline over chunks of the plan's shards.

    chunks ──map (CPU tasks)──▶ composite + encode images ──map (actor pool)──▶ depth ──▶ driver
    driver: when every chunk of a shard is back ──task──▶ assemble and write the shard atomically

Composition and image encoding run as stateless CPU tasks (each worker process keeps its decoded
inputs); a depth model runs in a pool of actors that load it once each, one GPU per actor where the
cluster has GPUs (a prior without a model, `planar`, is computed in the CPU tasks); the shard is assembled and written by the same `ShardWorker` code as the local
engine, under the same names, so both engines write the same bytes.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Iterable, Iterator

from ..errors import FgBgError
from ..plan import ShardSpec
from ..worker import Job, ShapeOnly, ShardWorker

CHUNK_ROWS = 512  # rows per Ray Data row: large enough that task overhead is small
MODEL_CHUNK_ROWS = 128  # with a depth model, chunks carry composites at the model's size to the actors
_WORKERS: dict[tuple[str, str], ShardWorker] = {}


def _worker(job: Job, role: str) -> ShardWorker:
    """One ShardWorker per job and role in each Ray worker process, reused across tasks."""
    key = (job.fingerprint, role)
    if key not in _WORKERS:
        # a model is loaded only by the depth actors; a prior (planar) is cheap enough for every task
        shape = ShapeOnly(job.depth_options.get("input_size")) if job.depth == "densedepth" else None
        _WORKERS[key] = ShardWorker(job, backend=shape)
    return _WORKERS[key]


def _compose(row: dict, job: Job) -> dict:
    chunk = json.loads(row["chunk"])
    worker = _worker(job, "compose")  # each task hands its stage times on with its piece (take_seconds)
    ids = job.plan.split_ids(chunk["split"])[chunk["start"]:chunk["stop"]]
    made, inputs = worker.compose_batch(ids)
    piece = worker.encode_images(ids, made)
    if job.with_depth and job.depth != "densedepth":  # a prior without a model: no actor needed
        worker.encode_depth(piece, worker.depth_units(*inputs))
        inputs = None
    piece.add_seconds(worker.take_seconds())
    return {"chunk": row["chunk"], "payload": pickle.dumps((piece, inputs), protocol=5)}


class _DepthActor:
    """Holds the depth backend (the model is loaded once per actor)."""

    def __init__(self, job: Job):
        self.worker = ShardWorker(job)

    def __call__(self, row: dict) -> dict:
        piece, inputs = pickle.loads(row["payload"])
        self.worker.encode_depth(piece, self.worker.depth_units(*inputs)).add_seconds(self.worker.take_seconds())
        return {"chunk": row["chunk"], "payload": pickle.dumps((piece, None), protocol=5)}


def _write_shard(job: Job, spec: ShardSpec, pieces: list) -> dict:
    worker = _worker(job, "write")
    return worker.write(spec, *worker.table_from(pieces))


def _chunks(specs: list[ShardSpec], rows_per_chunk: int) -> list[dict]:
    rows = []
    for spec in specs:
        starts = list(range(spec.start, spec.stop, rows_per_chunk))
        for part, start in enumerate(starts):
            rows.append({"split": spec.split, "index": spec.index, "part": part, "parts": len(starts),
                         "start": start, "stop": min(start + rows_per_chunk, spec.stop)})
    return rows


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise FgBgError("--engine ray needs Ray Data: pip install 'fgbg-depth[ray]' "
                        "(or pip install 'ray[data]')") from None
    return ray


def run_ray(job: Job, specs: Iterable[ShardSpec], workers: int, address: str | None = None, **_) -> Iterator[dict]:
    """Yield each shard's result as it is written. Without `address` a local Ray with `workers` CPUs
    is started (and stopped afterwards); with one, the run joins that cluster."""
    specs = list(specs)
    if not specs:
        return
    ray = _import_ray()
    started = False
    local = not address  # no cluster named: this machine alone
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray reports nothing anywhere
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            if address:
                ray.init(address=address, log_to_driver=False, include_dashboard=False)
            else:  # a private Ray on this machine, on the loopback address only
                ray.init(num_cpus=workers, log_to_driver=False, include_dashboard=False,
                         configure_logging=False, _node_ip_address="127.0.0.1")
        except Exception as exc:
            raise FgBgError(f"cannot start or reach Ray{f' at {address}' if address else ''} "
                            f"({str(exc).splitlines()[0][:120]})") from None
        started = True
    try:
        yield from _run(ray, job, specs, local)
    finally:
        if started:
            ray.shutdown()


def _run(ray, job: Job, specs: list[ShardSpec], local: bool = False) -> Iterator[dict]:
    import logging
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    if local:  # on a few local cores, per-operator reservations leave cores idle; two stages need none
        ctx.op_resource_reservation_enabled = False
    by_key = {(s.split, s.index): s for s in specs}
    rows = [{"chunk": json.dumps(c)}
            for c in _chunks(specs, MODEL_CHUNK_ROWS if job.depth == "densedepth" else CHUNK_ROWS)]
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    ds = ds.map(_compose, fn_kwargs={"job": job}, num_cpus=1)
    if job.depth == "densedepth":  # the model lives in actors: loaded once each, one GPU each if any
        gpus = int(ray.cluster_resources().get("GPU", 0))
        pool = ray.data.ActorPoolStrategy(size=max(1, gpus))
        ds = ds.map(_DepthActor, fn_constructor_kwargs={"job": job}, compute=pool, num_cpus=1,
                    num_gpus=1 if gpus else 0)
    write = ray.remote(num_cpus=1)(_write_shard)
    waiting: dict[tuple[str, int], dict[int, object]] = {}
    running = []
    for row in ds.iter_rows():
        chunk = json.loads(row["chunk"])
        piece, _ = pickle.loads(row["payload"])
        key = (chunk["split"], chunk["index"])
        waiting.setdefault(key, {})[chunk["part"]] = piece
        if len(waiting[key]) == chunk["parts"]:
            parts = waiting.pop(key)
            running.append(write.remote(job, by_key[key], [parts[i] for i in range(len(parts))]))
        done, running = ray.wait(running, num_returns=len(running), timeout=0) if running else ([], [])
        for ref in done:
            yield _result(ray, ref)
    while running:
        done, running = ray.wait(running, num_returns=1)
        for ref in done:
            yield _result(ray, ref)


def _result(ray, ref) -> dict:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if hasattr(exc, "cause") else exc
        if isinstance(cause, FgBgError):
            raise FgBgError(str(cause)) from None
        raise
