"""After the shards: the `sources` config, stats.json and the dataset card."""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

import numpy as np
import pyarrow as pa

from .assets import SourceFile
from .card import render_card
from .contract import source_schema, state_path
from .scene import SceneOptions
from .shards import binary_array, numeric_array, split_figures, write_json_atomic, write_table_atomic, write_text_atomic
from .stats import split_stats
from .version import __version__

SOURCE_SHARD_BYTES = 400_000_000


def write_sources(out: Path, role: str, files: tuple[SourceFile, ...]) -> dict:
    """The input files themselves, byte for byte, as sources/{role}-i-of-n.parquet; returns the
    split's entry for the card (rows, Arrow bytes, file bytes)."""
    groups, current, size = [], [], 0
    for f in files:
        n = Path(f.path).stat().st_size
        if current and size + n > SOURCE_SHARD_BYTES:
            groups.append(current)
            current, size = [], 0
        current.append(f)
        size += n
    groups.append(current)
    names, parts = [], []
    for i, group in enumerate(groups):
        name = f"{role}-{i:05d}-of-{len(groups):05d}.parquet"
        names_utf8 = [f.name.encode() for f in group]
        image = pa.StructArray.from_arrays(
            [binary_array([Path(f.path).read_bytes() for f in group]), binary_array(names_utf8, pa.string())],
            names=["bytes", "path"])
        ints = {c: numeric_array(np.array([getattr(f, c) for f in group], np.int64), pa.int32())
                for c in ("id", "width", "height")}
        cols = {"image": image, "name": binary_array(names_utf8, pa.string()),
                "sha256": binary_array([f.sha256.encode() for f in group], pa.string()), **ints}
        schema = source_schema()  # arrays from buffers: pa.array on Python lists would import pandas
        table = pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)
        size, _, nbytes = write_table_atomic(table, out / "sources" / name, state_path(out, "tmp"))
        names.append(name)
        parts.append((role, len(group), nbytes, size))
    for stale in (out / "sources").glob(f"{role}-*.parquet"):
        if stale.name not in names:
            stale.unlink()
    return split_figures(parts, [role])[role]


def size_category(n: int) -> str:
    edges = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
             (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((label for edge, label in edges if n < edge), "100M<n<1B")


def reproduce_command(opts, scene: SceneOptions) -> str:
    parts = ["fgbg-depth generate --out OUT"]
    if opts.backgrounds:
        parts.append("--backgrounds BACKGROUNDS")
    if opts.foregrounds:
        parts.append("--foregrounds FOREGROUNDS")
    parts.append(f"--placements {opts.placements} --size {opts.size}")
    for key, value in scene.recipe().items():
        parts.append(f"--{key}" if value is True else f"--{key} {value}")
    return " ".join(parts)


def _model_arguments(job) -> str:
    """The flags that pin a model run's depth: the weights (by checkpoint and commit) and the compute."""
    o = job.depth_options
    if job.depth == "depth-anything":
        pinned = f" --depth-model {o['model']}" + (f" --depth-revision {o['revision']}" if o.get("revision") else "")
    elif job.depth == "densedepth":
        pinned = " --depth-weights WEIGHTS"
    else:
        return ""
    return f"{pinned} --precision {o['precision']} --depth-input-size {o['input_size'][0]}"


def category_counts(job) -> dict:
    """The classes, how many foregrounds each has, and how many rows of each split show it (from the plan)."""
    names = list(job.categories)
    of = np.asarray([f.category for f in job.foregrounds])
    per_fg = np.bincount(of, minlength=len(names))
    rows = {}
    for split in job.plan.split_names:
        fg = job.plan.decode(job.plan.split_ids(split))[1]
        counts = np.bincount(of[fg], minlength=len(names))
        rows[split] = {n: int(c) for n, c in zip(names, counts)}
    return {"names": names, "foregrounds": {n: int(c) for n, c in zip(names, per_fg)}, "rows": rows}


def versions() -> dict:
    """The versions of what decides the bytes (the card records them; `rebuild` compares them)."""
    import zlib

    import PIL
    import pyarrow
    import simplejpeg

    from .resample import describe
    return {"fgbg_depth": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "pillow": PIL.__version__, "pyarrow": pyarrow.__version__, "simplejpeg": simplejpeg.__version__,
            "zlib": zlib.ZLIB_RUNTIME_VERSION, "resize": describe()}


def finalize(out: Path, opts, job, inputs, results: list[dict], depth_info: dict, note: str | None,
             resumed: bool, skipped_shards: int, cutouts: dict | None = None, recipe: dict | None = None,
             origins: dict | None = None) -> dict:
    plan = job.plan
    sources = {"backgrounds": write_sources(out, "backgrounds", inputs.backgrounds),
               "foregrounds": write_sources(out, "foregrounds", inputs.foregrounds)}
    channel_stats = split_stats(results, job.with_depth, job.depth_scale)
    figures = split_figures(((r["split"], r["rows"], r["arrow_bytes"], r["num_bytes"]) for r in results),
                            plan.split_names)
    splits = {}
    for split in plan.split_names:
        rows = [r for r in results if r["split"] == split]
        splits[split] = {**figures[split], "shards": len(rows), "files": [r["filename"] for r in rows],
                         "sha256": {r["filename"]: r["sha256"] for r in rows}}
    digest = hashlib.sha256()
    for r in sorted(results, key=lambda r: r["filename"]):
        digest.update(f"{r['filename']} {r['sha256']}\n".encode())
    bundled = not opts.backgrounds and not opts.foregrounds
    arguments = {"placements": plan.placements, "size": opts.size, "depth": job.depth,
                 "test_fraction": plan.test_fraction, "split_by": plan.split_by, "seed": plan.seed,
                 "shard_rows": plan.shard_rows, **job.scene.recipe(),
                 "backgrounds": "bundled samples" if not opts.backgrounds else f"{len(inputs.backgrounds)} files",
                 "foregrounds": "bundled samples" if not opts.foregrounds else f"{len(inputs.foregrounds)} files"}
    summary = {
        "fingerprint": job.fingerprint,
        "content_id": digest.hexdigest()[:16],
        "arguments": arguments,
        "command": f"{reproduce_command(opts, job.scene)} --depth {job.depth}{_model_arguments(job)} "
                   f"--test-fraction {plan.test_fraction} --split-by {plan.split_by} --seed {plan.seed}",
        "depth": dict(depth_info, note=note) if note else depth_info,
        "depth_scale": job.depth_scale if job.with_depth else None,
        "depth_quantum_m": job.depth_scale * job.depth_quantum if job.with_depth else None,
        "num_samples": plan.n_samples,
        "splits": splits,
        "sources": sources,
        "channel_stats": channel_stats,
        "inputs": {"backgrounds": [[f.name, f.sha256] for f in inputs.backgrounds],
                   "foregrounds": [[f.name, f.sha256] for f in inputs.foregrounds]},
        "skipped": [s.as_dict() for s in inputs.skipped],
        "license": opts.license or ("cc0-1.0" if bundled else "other"),
        "size_category": size_category(plan.n_samples),
        "with_depth": job.with_depth,
        "resumed": resumed, "shards_already_done": skipped_shards,
        **({"cutouts": cutouts} if cutouts else {}),
        **({"categories": category_counts(job)} if job.categories else {}),
        **({"recipe": recipe} if recipe else {}),
        **({"hub_inputs": {role: {k: v for k, v in o.items() if k != "skipped"} for role, o in origins.items()}}
           if origins else {}),
        "stage_seconds": {stage: round(sum(r.get("stage_seconds", {}).get(stage, 0.0) for r in results), 3)
                          for stage in ("compose", "depth", "encode", "write")},
        "versions": versions(),
    }
    write_json_atomic({"depth_scale": summary["depth_scale"], "channel_stats": channel_stats},
                      out / "stats.json")
    write_text_atomic(render_card(summary), out / "README.md")
    return summary
