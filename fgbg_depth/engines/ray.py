"""The Ray engine: the plan's shards as Ray work.

With a depth model (Depth Anything, DenseDepth), one Ray Data pipeline:

    chunks ──map (CPU tasks)──▶ composite + encode images ──map (actor pool)──▶ depth ──▶ driver
    driver: when every chunk of a shard is back ──task──▶ assemble and write the shard atomically

Composition and image encoding run as stateless CPU tasks (each worker process keeps its decoded
inputs); the model runs in a pool of actors that load it once each, one GPU per actor where the
cluster has GPUs. Without a model (a prior such as `planar`, or no depth) there is nothing to stream
between stages: each shard is one plain Ray task that makes and writes it, as in the local engine,
and Ray Data (two actors of its own, its import in every process) is not started at all. Either way
the shard is written by the same `ShardWorker` code as the local engine, under the same names, so
both engines write the same bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import os
import pickle
import socket
import time
from typing import Iterable, Iterator

from ..errors import FgBgError
from ..plan import ShardSpec
from ..stages.job import Job
from ..worker import ShapeOnly, ShardWorker

CHUNK_ROWS = 128  # rows per chunk, at least: composites at the model's input size travel to the depth actors
_WORKERS: dict[tuple[str, str], ShardWorker] = {}


def _worker(job: Job, role: str) -> ShardWorker:
    """One ShardWorker per job and role in each Ray worker process, reused across tasks."""
    key = (job.fingerprint, role)
    if key not in _WORKERS:
        # a model is loaded only by the depth actors; a prior (planar) is cheap enough for every task
        shape = ShapeOnly(job.depth_options.get("input_size")) if job.runs_model else None
        _WORKERS[key] = ShardWorker(job, backend=shape)
    return _WORKERS[key]


def _user_errors(stage):
    """A Ray Data stage whose FgBgError (a full disk, say) becomes an `error` field of its row, so
    the driver raises it as the user's one line: raised in the stage, Ray Data would log it, wrap it
    and lose its type on the way back."""
    @functools.wraps(stage)
    def run(*args, **kwargs):
        try:
            return {**stage(*args, **kwargs), "error": ""}
        except FgBgError as exc:
            return {"error": str(exc) or "failed"}
    return run


def _raise_error_of(row: dict) -> None:
    if row.get("error"):
        raise FgBgError(row["error"])


@_user_errors
def _compose(row: dict, job: Job) -> dict:
    chunk = json.loads(row["chunk"])
    worker = _worker(job, "compose")  # each task hands its stage times on with its piece (take_seconds)
    ids = job.plan.split_ids(chunk["split"])[chunk["start"]:chunk["stop"]]
    made, inputs = worker.compose_batch(ids)
    piece = worker.encode_images(ids, made).add_seconds(worker.take_seconds())
    return {"chunk": row["chunk"], "payload": pickle.dumps((piece, inputs), protocol=5)}


class _DepthActor:
    """Holds the depth backend (the model is loaded once per actor)."""

    def __init__(self, job: Job, chunk_rows: int):
        self.worker, self.error = None, ""
        try:
            self.worker = ShardWorker(job)
            batch = self.worker.backend.batch_size
            if chunk_rows % batch:  # the model must see the local engine's batches (see _chunk_rows)
                raise FgBgError(f"depth batch size {batch} does not divide the Ray engine's chunks of "
                                f"{chunk_rows} rows; set FGBG_DEPTH_BATCH where you start the run")
        except FgBgError as exc:  # e.g. no TensorFlow on this node: every row carries the reason
            self.error = str(exc)

    def __call__(self, row: dict) -> dict:
        if row["error"] or self.error:
            return {"error": row["error"] or self.error}
        return self._depth(row)

    @_user_errors
    def _depth(self, row: dict) -> dict:
        piece, inputs = pickle.loads(row["payload"])
        self.worker.encode_depth(piece, self.worker.depth_units(*inputs)).add_seconds(self.worker.take_seconds())
        return {"chunk": row["chunk"], "payload": pickle.dumps((piece, None), protocol=5)}


def _make_shard(job: Job, spec: ShardSpec) -> dict:
    return _worker(job, "make").make(spec)


def _write_shard(job: Job, spec: ShardSpec, pieces: list) -> dict:
    worker = _worker(job, "write")
    return worker.write(spec, *worker.table_from(pieces))


def _chunk_rows(batch: int | None) -> int:
    """Rows per chunk for a model run in batches of `batch`: a multiple of it, so that, both cut
    from the shard's start, the actor's batches are the local engine's (byte identity must not hang
    on the model giving each image the same depth whatever batch it comes in). None: the device's
    default batch, 4 on a CPU and 128 on a GPU, both dividing CHUNK_ROWS."""
    return CHUNK_ROWS if batch is None else batch * -(-CHUNK_ROWS // batch)


def _chunks(specs: list[ShardSpec], rows_per_chunk: int) -> list[dict]:
    rows = []
    for spec in specs:
        batches = spec.batches(rows_per_chunk)
        rows += [{"split": spec.split, "index": spec.index, "part": part, "parts": len(batches),
                  "start": start, "stop": stop} for part, start, stop in batches]
    return rows


def _import_ray(data: bool = True):
    try:
        import ray
        if data:
            import ray.data  # noqa: F401
    except ImportError:
        raise FgBgError("--engine ray needs Ray Data: pip install 'fgbg-depth[ray]' "
                        "(or pip install 'ray[data]')") from None
    return ray


def run_ray(job: Job, specs: Iterable[ShardSpec], workers: int, address: str | None = None, **_) -> Iterator[dict]:
    """Yield each shard's result as it is written. The run joins the Ray this process is already
    connected to, else the cluster at `address` (or $RAY_ADDRESS, as `ray job submit` sets it), else
    it starts a private Ray with `workers` CPUs on this machine and stops it afterwards."""
    specs = list(specs)
    if not specs:
        return
    with_model = job.runs_model
    ray = _import_ray(data=with_model)
    batch = None
    if with_model:  # checked before Ray starts
        from ..depth.runner import chosen_batch_size
        batch = chosen_batch_size()
    address = address or os.environ.get("RAY_ADDRESS") or None
    stop = None
    try:
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray reports nothing anywhere
            os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
            try:
                stop = _join(ray, address) if address else _start_private(ray, workers)
            except FgBgError:
                raise
            except Exception as exc:
                raise FgBgError(f"cannot start or reach Ray{f' at {address}' if address else ''} "
                                f"({str(exc).splitlines()[0][:120]})") from None
        yield from _run(ray, job, specs, local=not address, batch=batch)
    finally:
        if stop is not None:
            stop()


def _join(ray, address: str):
    _probe(address)
    ray.init(address=address, log_to_driver=False, include_dashboard=False)
    return ray.shutdown


def _probe(address: str, timeout: float = 10.0) -> None:
    """A host:port nobody answers on fails here at once: Ray itself retries for many minutes."""
    host, _, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise FgBgError(f"cannot reach Ray at {address} ({exc.strerror or exc})") from None


def _start_private(ray, workers: int):
    """A one-machine Ray for this run alone: its head node without the services such a run never
    uses (dashboard, autoscaler monitor, log forwarding), and stopped without the one-by-one graceful
    waits of ray.shutdown, since every shard is already written atomically. On 2 cores: about 1.2 s
    instead of 3.2 s to start, 0.1-0.3 s instead of 1.35 s to stop. Built on Ray's internal node class;
    a Ray whose internals differ gets plain ray.init."""
    try:
        from ray._private import services
        from ray._private.authentication import authentication_token_setup as auth
        from ray._private.node import Node
        from ray._private.parameter import RayParams

        class _Head(Node):
            def start_api_server(self, **_):  # the dashboard and job API: not started
                return None

            def start_ray_processes(self):
                super().start_ray_processes()
                _await_raylet(self)

        # as ray.init does for a new cluster: its ports listen on every interface, so clients need
        # the token (~/.ray/auth_token, made if missing) unless RAY_AUTH_MODE says otherwise
        logging.getLogger(auth.__name__).setLevel(logging.ERROR)  # the README says so, not each run
        auth.enable_token_auth_by_default()
        auth.ensure_token_if_auth_enabled(None, create_token_if_missing=True)
        params = RayParams(node_ip_address=services.resolve_ip_for_localhost("127.0.0.1"), num_cpus=workers,
                           include_dashboard=False, no_monitor=True, include_log_monitor=False)
        head = _Head(params, head=True, shutdown_at_exit=False, spawn_reaper=True, ray_init_cluster=True)
    except (ImportError, AttributeError, TypeError):
        ray.init(num_cpus=workers, log_to_driver=False, include_dashboard=False, configure_logging=False)
        return ray.shutdown

    def stop():
        try:
            ray.shutdown()
        finally:
            _stop_head(head)

    try:
        ray.init(address=head.address, log_to_driver=False, configure_logging=False)
    except BaseException:
        _stop_head(head)
        raise
    return stop


def _await_raylet(head, timeout: float = 30.0) -> None:
    """Return once the raylet has registered with the GCS (about 0.5 s after it starts, when its
    runtime-env agent is up). Node's own wait polls once a second, so it would notice ~0.5 s late;
    it runs after this and then finds the raylet at once. Anything unexpected leaves that wait to it."""
    try:
        client, deadline = head.get_gcs_client(), time.monotonic() + timeout
        while not client.get_all_node_info(timeout=1) and time.monotonic() < deadline:
            time.sleep(0.02)
    except Exception:  # noqa: BLE001 - a Ray whose internals differ: Node's own wait follows
        pass


def _stop_head(head) -> None:
    """The raylet is asked to stop (it ends its workers and agents, in about 0.1 s), then the rest is
    killed; Ray's own shutdown gives each process in turn up to a second to exit."""
    try:
        for info in head.all_processes.get("raylet", []):
            info.process.terminate()
            info.process.wait(timeout=10)
        head.kill_all_processes(check_alive=False, allow_graceful=False, wait=True)
    except Exception:  # noqa: BLE001 - a Ray whose internals differ: its own, slower way
        head.kill_all_processes(check_alive=False, allow_graceful=True)


def _run(ray, job: Job, specs: list[ShardSpec], local: bool = False, batch: int | None = None) -> Iterator[dict]:
    try:
        if not job.runs_model:
            yield from _run_whole_shards(ray, job, specs)
        else:
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
            yield from _run_with_model(ray, job, specs, local, batch)
    except ray.exceptions.RayTaskError as exc:  # a task's FgBgError (a full disk) comes back as its cause
        if isinstance(getattr(exc, "cause", None), FgBgError):
            raise FgBgError(str(exc.cause)) from None
        raise


def _configure(ds, local: bool) -> None:
    """Settings on this dataset's own copy of the DataContext (a caller's context is left alone)."""
    ctx = ds.context
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    if local:  # on a few local cores, per-operator reservations leave cores idle; our stages need none
        ctx.op_resource_reservation_enabled = False


def _run_whole_shards(ray, job: Job, specs: list[ShardSpec]) -> Iterator[dict]:
    """Without a model each shard is one task, as in the local engine: composed, encoded and written
    where it is made, so no rows travel through the driver. Plain Ray tasks, not Ray Data: with no
    stage to stream to, its executor, its two actors and its import would be all it added (about
    2.5 s of a 2-core run of 10k samples). The largest shards are submitted first and tasks start in
    that order, so the last ones to finish are short (no core idles while one long shard ends the
    run). A few times the cluster's CPUs are queued at once (enough to keep every core busy and an
    autoscaler informed, few enough that the driver stays light with 10,000 shards); a run that
    stops early (an error, Ctrl-C) cancels the tasks it queued."""
    make = ray.remote(num_cpus=1)(_make_shard)
    job_ref = ray.put(job)  # sent once, not with every task
    pending = iter(sorted(specs, key=lambda s: -s.rows))
    running: list = []
    try:
        while True:
            window = max(16, 4 * int(ray.cluster_resources().get("CPU", 1)))
            running += [make.remote(job_ref, spec) for spec in itertools.islice(pending, window - len(running))]
            if not running:
                return
            done, running = ray.wait(running, num_returns=1)
            yield ray.get(done[0])
    finally:
        for ref in running:
            ray.cancel(ref)


def _run_with_model(ray, job: Job, specs: list[ShardSpec], local: bool, batch: int | None) -> Iterator[dict]:
    """`batch`: the model's batch size asked for by FGBG_DEPTH_BATCH here, or None (each actor's
    device decides). It travels with the job: a cluster node's environment lacks the variable."""
    by_key = {(s.split, s.index): s for s in specs}
    chunk_rows = _chunk_rows(batch)
    model_job = dataclasses.replace(job, depth_options={**job.depth_options, "batch_size": batch})
    rows = [{"chunk": json.dumps(c)} for c in _chunks(specs, chunk_rows)]
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    _configure(ds, local)
    ds = ds.map(_compose, fn_kwargs={"job": job}, num_cpus=1)
    # the model lives in actors: loaded once each, one GPU each if any
    gpus = int(ray.cluster_resources().get("GPU", 0))
    pool = ray.data.ActorPoolStrategy(size=max(1, gpus))
    ds = ds.map(_DepthActor, fn_constructor_kwargs={"job": model_job, "chunk_rows": chunk_rows}, compute=pool,
                num_cpus=1, num_gpus=1 if gpus else 0)
    write = ray.remote(num_cpus=1)(_write_shard)
    job_ref = ray.put(job)
    waiting: dict[tuple[str, int], dict[int, object]] = {}
    running = []
    for row in ds.iter_rows():
        _raise_error_of(row)
        chunk = json.loads(row["chunk"])
        piece, _ = pickle.loads(row["payload"])
        key = (chunk["split"], chunk["index"])
        waiting.setdefault(key, {})[chunk["part"]] = piece
        if len(waiting[key]) == chunk["parts"]:
            parts = waiting.pop(key)
            running.append(write.remote(job_ref, by_key[key], [parts[i] for i in range(len(parts))]))
        done, running = ray.wait(running, num_returns=len(running), timeout=0) if running else ([], [])
        for ref in done:
            yield ray.get(ref)
    while running:
        done, running = ray.wait(running, num_returns=1)
        for ref in done:
            yield ray.get(ref)
