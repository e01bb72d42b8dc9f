"""`fgbg-depth generate`: validate inputs, lay out OUT, run the shards, then write stats and card."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .assets import Inputs, Listing, Skip, load_inputs
from .codecs import JPEG_QUALITY
from .contract import DEPTH_SCALE, FORMAT_VERSION, OWN_ENTRIES, depth_quantum_for, depth_scale_for, state_path
from .cutout.records import CutoutFolder, read_cutout_folder
from .errors import FgBgError
from .hubdata import fetch_inputs, parse_address
from .lock import FolderLock
from .plan import Plan, shard_rows_for
from .scene import SceneOptions
from .shards import write_json_atomic
from .stages.job import Job
WEIGHTS_ENV = "FGBG_DEPTH_WEIGHTS"
MODEL_ENV = "FGBG_DEPTH_MODEL"


@dataclass
class GenerateOptions:
    """The generation arguments, named like the CLI's flags."""

    out: str
    backgrounds: str | Listing | None = None  # a folder or glob (or the files of a Hub dataset, listed)
    foregrounds: str | Listing | None = None
    placements: int = 20
    size: int = 160
    depth: str = "auto"
    depth_weights: str | None = None
    depth_model: str | None = None
    depth_revision: str | None = None
    depth_plugin_options: dict = field(default_factory=dict)  # --depth-option KEY=VALUE, for a plug-in
    precision: str = "float32"
    depth_input_size: int = 448
    test_fraction: float = 0.3
    split_by: str = "sample"
    seed: int = 0
    workers: int | None = None
    engine: str = "local"
    license: str | None = None
    shard_rows: int | None = None
    blend: str = "none"
    alpha: bool = False
    objects: int = 1
    progress: bool = True
    extra: dict = field(default_factory=dict)
    # Hub datasets as inputs (hf://datasets/OWNER/NAME[@REV][/PATH]): a seeded sample, and which columns
    backgrounds_sample: int | None = None
    foregrounds_sample: int | None = None
    background_column: str | None = None
    foreground_column: str | None = None
    label_column: str | None = None
    matte_column: str | None = None
    # what `rebuild` carries over from the card it rebuilds, whose inputs now come from its sources/:
    # where they first came from ("cutout": the recipe's cut-out records, "cutouts": the card's
    # cutout_source, "hub_inputs": the Hub datasets), so the rebuilt card and recipe name them too
    provenance: dict = field(default_factory=dict)


@dataclass
class DepthChoice:
    """Which backend a run uses and how to make it: `options` are `get_backend`'s, less the ones
    that only the engine process decides (precision, input size)."""

    name: str
    options: dict = field(default_factory=dict)
    note: str | None = None  # said on stderr and in the card (what `auto` chose, and why)


def resolve_depth(opts: GenerateOptions) -> DepthChoice:
    """The backend for --depth: `auto` never downloads (a configured model, else a cached one, else
    the planar prior, saying which); `depth-anything` downloads its model when it must."""
    from .depth.base import BUILTIN, backend_names
    from .depth.checkpoint import DEFAULT_MODEL
    from .weights import default_weights_path
    depth = opts.depth
    if opts.depth_plugin_options and (depth == "auto" or depth in BUILTIN):
        raise FgBgError(f"--depth-option is for plug-in backends; --depth {depth} takes its own flags")
    model = opts.depth_model or os.environ.get(MODEL_ENV) or None
    weights = opts.depth_weights or os.environ.get(WEIGHTS_ENV) or None
    if depth == "auto":
        return _auto_depth(model, opts.depth_revision, weights, DEFAULT_MODEL, default_weights_path())
    if depth == "depth-anything":
        return DepthChoice("depth-anything", {"model": model or DEFAULT_MODEL, "revision": opts.depth_revision})
    if depth == "densedepth":
        cached = default_weights_path()
        weights = weights or (str(cached) if cached.is_file() else None)
        if not weights:
            raise FgBgError(f"--depth densedepth needs --depth-weights FILE (or {WEIGHTS_ENV}); "
                            "see `fgbg-depth weights fetch`")
        return DepthChoice("densedepth", {"weights": weights})
    if depth not in backend_names():
        raise FgBgError(f"unknown --depth '{depth}'; choose {', '.join(['auto', *backend_names()])}")
    return DepthChoice(depth, dict(opts.depth_plugin_options))


def _auto_depth(model, revision, weights, default_model: str, cached_weights: Path) -> DepthChoice:
    from .depth.model_hub import cached_model
    from .depth.runner import keras_available
    if not keras_available():
        return DepthChoice("planar", note="--depth auto: no depth model can run here (Keras is not installed: "
                                          "pip install 'fgbg-depth[depth]'); depth comes from the planar ground-plane prior")
    said = []
    if model:  # configured: --depth-model or FGBG_DEPTH_MODEL
        found = cached_model(model, revision)
        if found:
            return DepthChoice("depth-anything", {"model": model, "revision": found.revision or revision},
                               note=f"--depth auto: Depth Anything '{model}' (configured, found locally)")
        said.append(f"the configured model '{model}' is not in the Hugging Face cache (`hf download {model}`)")
    if weights:
        return DepthChoice("densedepth", {"weights": weights},
                           note=f"--depth auto: DenseDepth weights '{Path(weights).name}' (configured)")
    if not model:
        found = cached_model(default_model)
        if found:
            return DepthChoice("depth-anything", {"model": default_model, "revision": found.revision},
                               note=f"--depth auto: Depth Anything '{default_model}' (in the Hugging Face cache)")
        said.append(f"Depth Anything is not in the Hugging Face cache (`hf download {default_model}`, or "
                    "--depth depth-anything to download it)")
    if cached_weights.is_file():
        return DepthChoice("densedepth", {"weights": str(cached_weights)},
                           note="--depth auto: DenseDepth weights fetched by `fgbg-depth weights fetch`")
    said.append(f"no DenseDepth weights are configured (--depth-weights, {WEIGHTS_ENV} or `fgbg-depth weights fetch`)")
    return DepthChoice("planar", note="--depth auto: " + "; ".join(said) + "; depth comes from the planar "
                                      "ground-plane prior")


def scene_options(opts: GenerateOptions) -> SceneOptions:
    return SceneOptions(blend=opts.blend, alpha=bool(opts.alpha), objects=int(opts.objects))


def check_options(opts: GenerateOptions) -> None:
    scene_options(opts).check()
    if not 16 <= opts.size <= 4096:
        raise FgBgError("--size must be between 16 and 4096 pixels")
    if not 0 <= opts.seed < 2**63:
        raise FgBgError("--seed must be a non-negative integer below 2**63")
    if opts.workers is not None and opts.workers < 1:
        raise FgBgError("--workers must be at least 1")
    if opts.engine not in ("local", "ray"):
        raise FgBgError(f"unknown --engine '{opts.engine}'; choose local or ray")
    if opts.depth_input_size < 14:
        raise FgBgError("--depth-input-size must be a positive multiple of 14 (Depth Anything) or 32 (DenseDepth)")
    if opts.precision not in ("float32", "bfloat16", "float16"):
        raise FgBgError("--precision must be float32, bfloat16 or float16")


def recipe(opts: GenerateOptions, inputs: Inputs, depth: str, depth_info: dict, plan: Plan, scale: float,
           quantum: int, cutout: dict | None = None, origins: dict | None = None) -> dict:
    """Everything that decides the bytes of the output; its hash is the run's fingerprint."""
    return {
        "format_version": FORMAT_VERSION,
        "placements": plan.placements, "seed": plan.seed, "test_fraction": plan.test_fraction,
        "split_by": plan.split_by, "shard_rows": plan.shard_rows, "size": opts.size,
        "depth": depth, "depth_model": depth_info, "depth_scale": scale, "depth_quantum": quantum,
        "jpeg_quality": JPEG_QUALITY,
        **scene_options(opts).recipe(),  # nothing for the defaults: earlier folders keep their fingerprints
        **scene_options(opts).versions(),
        "backgrounds": [[f.name, f.sha256] for f in inputs.backgrounds],
        "foregrounds": [[f.name, f.sha256] for f in inputs.foregrounds],
        **({"cutout": cutout} if cutout else {}),  # the records of a cut-out folder used (CutoutFolder.recipe)
        # only with categories: their names, and each foreground's (an id into them)
        **({"categories": {"names": list(inputs.categories), "of_foregrounds": [f.category for f in inputs.foregrounds]}}
           if inputs.categories else {}),
        **({"hub_inputs": origins} if origins else {}),  # Hub datasets used: repository, commit, path, sample
    }


def fingerprint_of(rec: dict) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()


def refuse_foreign_folder(out: Path) -> None:
    """Refuse a file, or a folder holding what fgbg-depth did not write; reads only, so it can run
    before the folder is locked (and before anything is created in it)."""
    if out.exists() and not out.is_dir():
        raise FgBgError(f"--out '{out}' is a file; give a folder")
    if not out.is_dir() or state_path(out, "manifest.json").exists():
        return
    strangers = sorted(p.name for p in out.iterdir()
                       if p.name not in OWN_ENTRIES and not (p.name.startswith(".") and p.name.endswith(".tmp")))
    if strangers:  # without them, a first run killed before its manifest landed: shard markers guard reuse
        raise FgBgError(f"--out '{out}' holds files fgbg-depth did not write (e.g. '{strangers[0]}'); "
                        "choose a new or empty folder")


def check_out_folder(out: Path, rec: dict, fingerprint: str) -> bool:
    """Refuse a folder that holds something else; True when resuming a run of the same recipe."""
    refuse_foreign_folder(out)
    manifest_path = state_path(out, "manifest.json")
    if not manifest_path.exists():
        return False
    try:
        old = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        raise FgBgError(f"run state in '{manifest_path}' is unreadable; delete '{out}' and run again") from None
    if old.get("fingerprint") == fingerprint:
        return True
    old_rec = old.get("recipe", {})
    changed = [k for k in sorted(set(rec) | set(old_rec)) if rec.get(k) != old_rec.get(k)]
    if changed and all(k == "format_version" or k in SceneOptions.VERSION_KEYS for k in changed):
        raise FgBgError(f"--out '{out}' holds a dataset made by another version of fgbg-depth (differs in: "
                        f"{', '.join(changed)}); this one would write other bytes into it: use another --out or delete it")
    raise FgBgError(f"--out '{out}' holds a dataset made with other arguments or inputs "
                    f"(differs in: {', '.join(changed) or 'format'}); use another --out or delete it")


def _clean_stale_temporaries(out: Path) -> None:
    """Remove what a killed run can leave: shard temporaries, and the `.name.xxxxxxxx.tmp` files the
    atomic writers put beside the card, stats, manifest and shard markers."""
    shutil.rmtree(state_path(out, "tmp"), ignore_errors=True)
    for folder in (out, state_path(out), state_path(out, "shards"), out / "sources"):
        for stray in folder.glob(".*.tmp"):
            stray.unlink(missing_ok=True)


def _progress(total: int, done: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, initial=done, unit=" samples", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, smoothing=0.1, desc="generate")


@dataclass
class Prepared:
    """A validated run: the job every engine executes, and what the card needs to say about it."""

    job: Job
    inputs: Inputs
    backend: object
    depth_info: dict
    note: str | None
    recipe: dict
    cutouts: CutoutFolder | None = None  # the foregrounds came from `fgbg-depth cutout`
    origins: dict = field(default_factory=dict)  # role → where a Hub dataset input came from (hubdata provenance)


def prepare(opts: GenerateOptions, load_model: bool = True) -> Prepared:
    """Check the arguments, validate the inputs, load the depth backend: everything before writing.
    With `load_model=False` (a Ray driver, whose actors load their own) a model is only fetched,
    checked and described: the driver holds no copy of it, nor any GPU memory."""
    check_options(opts)
    choice = resolve_depth(opts)
    cutouts = (read_cutout_folder(opts.foregrounds)
               if isinstance(opts.foregrounds, str) and Path(opts.foregrounds).is_dir() else None)
    origins: dict = {}
    backgrounds = _hub_listing(opts, "backgrounds", origins) or opts.backgrounds
    foregrounds = _hub_listing(opts, "foregrounds", origins) or opts.foregrounds
    origins = origins or dict(opts.provenance.get("hub_inputs") or {})  # a rebuild's, from the card
    inputs = load_inputs(backgrounds, foregrounds, cutouts.screen if cutouts else None)
    plan = Plan(len(inputs.backgrounds), len(inputs.foregrounds), opts.placements, opts.seed,
                opts.test_fraction, opts.split_by, opts.shard_rows or shard_rows_for(opts.size))
    backend, depth_info, options, model = _depth_backend(choice, opts, load_model)
    max_m = depth_info.get("max_m") if choice.name != "none" else None
    scale = depth_scale_for(max_m) if max_m else DEPTH_SCALE
    quantum = depth_quantum_for(scale)
    rec = recipe(opts, inputs, choice.name, depth_info, plan, scale, quantum,
                 cutouts.recipe() if cutouts else opts.provenance.get("cutout"),
                 {role: {k: v for k, v in o.items() if k != "skipped"} for role, o in origins.items()})
    job = Job(plan=plan, size=opts.size, backgrounds=inputs.backgrounds, foregrounds=inputs.foregrounds,
              depth=choice.name, out=str(opts.out), fingerprint=fingerprint_of(rec), depth_options=options,
              depth_scale=scale, depth_quantum=quantum, runs_model=model, scene=scene_options(opts),
              categories=inputs.categories)
    return Prepared(job, inputs, backend, depth_info, choice.note, rec, cutouts, origins)


def _hub_listing(opts: GenerateOptions, role: str, origins: dict) -> Listing | None:
    """The files of a Hub dataset named by --backgrounds/--foregrounds (hf://datasets/...), through the
    user's cache; None for anything else. Its provenance goes into `origins`."""
    spec, sample = getattr(opts, role), getattr(opts, f"{role}_sample")
    if not isinstance(spec, str) or not parse_address(spec):
        if sample is not None:
            raise FgBgError(f"--{role}-sample takes a sample of a Hub dataset (hf://datasets/...); '{spec}' is not one")
        return None
    if sample < 1 if sample is not None else False:
        raise FgBgError(f"--{role}-sample must be at least 1")
    column = opts.background_column if role == "backgrounds" else opts.foreground_column
    got = fetch_inputs(spec, role, sample=sample, seed=opts.seed, image_column=column,
                       label_column=opts.label_column if role == "foregrounds" else None,
                       matte_column=opts.matte_column if role == "foregrounds" else None)
    origins[role] = got.provenance
    skips = [Skip(role, s["name"], s["reason"]) for s in got.provenance.get("skipped") or []]
    return Listing(spec, list(got.files), skips, got.categories or None, got.category_names if got.categories else None)


def _depth_backend(choice: DepthChoice, opts: GenerateOptions, load_model: bool):
    """(backend or None, what the card records, get_backend options for the engine's processes,
    whether it is a device model). A model is made here only when `load_model`; a relative-depth
    checkpoint is refused, since the dataset stores metres."""
    from .depth import get_backend
    from .depth.base import MODEL_BACKENDS, runs_model
    size = (opts.depth_input_size, opts.depth_input_size)
    name, options = choice.name, dict(choice.options)
    if name == "none":
        return None, {"backend": "none"}, {}, False
    if name == "densedepth":
        from .depth import densedepth
        if opts.depth_input_size % 32:
            raise FgBgError("--depth-input-size must be a multiple of 32 for DenseDepth (448 by default)")
        options.update(precision=opts.precision, input_size=size)
        if not load_model:
            densedepth.check_weights_file(options["weights"])
            return None, densedepth.describe(options["weights"], opts.precision, size), options, True
    elif name == "depth-anything":
        from .depth.model_hub import fetch_model
        if opts.depth_input_size % 14:
            raise FgBgError("--depth-input-size must be a multiple of 14 for Depth Anything (448 = 32 × 14 by default)")
        checkpoint = fetch_model(options["model"], options.get("revision"))
        info = checkpoint.describe(opts.precision, size)
        if info["depth_type"] != "metric":
            from .depth.checkpoint import METRIC_MODELS
            raise FgBgError(f"'{options['model']}' is a relative-depth checkpoint (inverse depth up to an unknown "
                            f"scale, not metres); use a metric one: {' or '.join(METRIC_MODELS)}")
        # every process of the run loads exactly these weights: the resolved commit, not a branch
        options.update(model=checkpoint.source, revision=checkpoint.revision, precision=opts.precision,
                       input_size=size)
        if not load_model:
            return None, info, options, True
    backend = get_backend(name, **options)
    model = name in MODEL_BACKENDS or runs_model(backend)
    info = backend.describe()
    if name not in MODEL_BACKENDS and options:  # a plug-in's options decide its bytes too
        info = {**info, "options": options}
    return backend, info, options, model


def generate(opts: GenerateOptions) -> dict:
    """Run (or resume) a generation; returns the summary that stats.json and the card are made from.
    The folder is locked from before anything is written or swept in it until the end: a second
    run into it is refused in one line, and a killed run's lock goes with its process."""
    t0 = time.perf_counter()
    check_options(opts)
    out = Path(opts.out)
    refuse_foreign_folder(out)
    with FolderLock(out, "generate"):
        return _generate_locked(opts, out, t0)


def _generate_locked(opts: GenerateOptions, out: Path, t0: float) -> dict:
    prep = prepare(opts, load_model=opts.engine != "ray")  # Ray's depth actors load their own
    job, plan, backend, note = prep.job, prep.job.plan, prep.backend, prep.note
    resuming = check_out_folder(out, prep.recipe, job.fingerprint)
    if note:
        print(f"fgbg-depth: {note}", file=sys.stderr)
    _clean_stale_temporaries(out)
    write_json_atomic({"fingerprint": job.fingerprint, "recipe": prep.recipe}, state_path(out, "manifest.json"))
    t_prepare = time.perf_counter()

    specs = plan.all_shards()
    results = {s.filename: job.finished(s) for s in specs}
    todo = [s for s in specs if results[s.filename] is None]
    done_rows = sum(r["rows"] for r in results.values() if r)
    workers = opts.workers or os.cpu_count() or 1
    bar = _progress(plan.n_samples, done_rows, opts.progress)
    try:
        if opts.engine == "ray":
            from .engines.ray import run_ray
            runner = run_ray(job, todo, workers, **opts.extra)
        else:
            from .engines.local import run_local
            in_process = backend if job.runs_model else None  # one model, not one per process
            runner = run_local(job, todo, workers, backend=in_process)
        for result in runner:
            results[result["filename"]] = result
            bar.update(result["rows"])
    finally:
        bar.close()
    t_shards = time.perf_counter()

    from .finalize import finalize
    summary = finalize(out, opts, job, prep.inputs, [results[s.filename] for s in specs], prep.depth_info, note,
                       resumed=resuming, skipped_shards=len(specs) - len(todo),
                       cutouts=prep.cutouts.summary() if prep.cutouts else opts.provenance.get("cutouts"),
                       recipe=prep.recipe, origins=prep.origins)
    summary["timings_s"] = {"prepare": round(t_prepare - t0, 3), "shards": round(t_shards - t_prepare, 3),
                            "finalize": round(time.perf_counter() - t_shards, 3)}
    write_json_atomic(summary, state_path(out, "report.json"))
    _clean_stale_temporaries(out)
    return summary
