"""`fgbg-depth verify OUT`: check every shard, the card and the stats against the run's plan.

Every figure the card states is recomputed here from the files with the functions `generate` took
it from: `split_figures` over `arrow_nbytes` and file sizes for dataset_info, the same integer
accumulators of `stats` and `split_stats` for channel_stats, so the two can only disagree when the
files do.
"""

from __future__ import annotations

import functools
import io
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from . import stats
from .assets import file_sha256
from .blend import MODES
from .codecs import decode_jpeg
from .contract import (DEPTH_SCALE, STATE_DIR, STORED_AS, image_columns, read_card_metadata, schema, source_schema,
                       state_path)
from .errors import FgBgError
from .lock import FolderLock
from .plan import Plan
from .scene import SceneOptions
from .shards import arrow_nbytes, split_figures

MAX_LISTED = 50


def _plan_from(recipe: dict) -> Plan:
    return Plan(len(recipe["backgrounds"]), len(recipe["foregrounds"]), recipe["placements"], recipe["seed"],
                recipe["test_fraction"], recipe["split_by"], recipe["shard_rows"])


def _decode(col: str, data: bytes | None, size: int) -> tuple[np.ndarray | None, str | None]:
    """(pixels, problem) of one stored image: format, mode and size checked, pixels decoded the way
    the writer decoded them for the statistics (JPEG through `decode_jpeg`)."""
    fmt, modes = STORED_AS[col]
    try:
        im = Image.open(io.BytesIO(data))
        if im.format != fmt or im.mode not in modes or im.size != (size, size):
            return None, f"is {im.format} {im.mode} {im.size[0]}x{im.size[1]}, expected {fmt} {modes[0]} {size}x{size}"
        pixels = decode_jpeg(data) if fmt == "JPEG" else np.asarray(im)
    except Exception as exc:
        return None, f"does not decode ({type(exc).__name__})"
    if col == "mask" and np.count_nonzero(pixels) != np.count_nonzero(pixels == 255):
        return None, "holds values other than 0 and 255"
    if col == "depth" and pixels.dtype != np.uint16:
        return None, "is not 16-bit"
    return pixels, None


def shard_sums(table, size: int, with_depth: bool, where: str, problems: list[str],
               scene: SceneOptions = SceneOptions()) -> dict:
    """Check every image of a shard, and the scene columns against them, and return its per-channel
    sums, accumulated as the writer accumulates them (stages.encode and
    stages.assemble)."""
    columns = image_columns(with_depth, scene)
    hist = {col: np.zeros((3 if col in ("fg_bg", "bg") else 1, 256), np.int64)
            for col in columns if col != "depth"}
    depth_acc = stats.empty(1)
    uses: dict[bytes, int] = {}
    for cell in table.column("bg").to_pylist():  # one stored background serves many rows: decode it once
        key = cell["bytes"] if cell else None
        uses[key] = uses.get(key, 0) + 1
    for data, n in uses.items():
        pixels, problem = _decode("bg", data, size)
        if problem:
            problems.append(f"{where} a row: bg {problem}")
        else:
            stats.add_histogram(hist["bg"], pixels, weight=n)
    per_row = [c for c in columns if c != "bg"]
    cells = {col: table.column(col).to_pylist() for col in per_row}
    records = table.column("objects").to_pylist() if scene.multi else None
    blends = table.column("blend").to_pylist() if scene.blend != "none" else None
    own = {name: table.column(name).to_pylist() for name in ("fg_id", "x", "y", "w", "h")} if scene.multi else None
    for i in range(table.num_rows):
        row = {}
        for col in per_row:
            pixels, problem = _decode(col, cells[col][i]["bytes"] if cells[col][i] else None, size)
            if problem:
                problems.append(f"{where} row {i}: {col} {problem}")
                continue
            row[col] = pixels
            if col == "depth":
                stats.add_depth(depth_acc, pixels)
            elif col == "mask":
                stats.add_binary_mask(hist["mask"], pixels)
            else:
                stats.add_histogram(hist[col], pixels)
        problems.extend(f"{where} row {i}: {p}" for p in _scene_problems(row, scene, records and records[i],
                                                                          blends and blends[i],
                                                                          own and {k: v[i] for k, v in own.items()}))
    sums = {col: stats.from_histogram(h) for col, h in hist.items()}
    if with_depth:
        sums["depth"] = depth_acc
    return sums


def _scene_problems(row: dict, scene: SceneOptions, objects, blend, own) -> list[str]:
    """What a row's scene columns must satisfy: alpha covers the mask, the instance ids are 0..K and
    their union is the mask, one record per object with the own object among them, a known blend."""
    out = []
    mask = row.get("mask")
    if scene.alpha and mask is not None and "alpha" in row and (row["alpha"][mask > 0] == 0).any():
        out.append("alpha is 0 where the mask says there is an object")
    if scene.multi and "instances" in row:
        ids = row["instances"]
        if int(ids.max(initial=0)) > scene.objects:
            out.append(f"instances hold id {int(ids.max())}, more than the {scene.objects} objects")
        if mask is not None and not np.array_equal(ids > 0, mask > 0):
            out.append("instances > 0 differs from the mask")
    if scene.multi:
        if not isinstance(objects, list) or len(objects) != scene.objects:
            out.append(f"objects has {len(objects) if isinstance(objects, list) else 'no'} entries, expected {scene.objects}")
        else:
            if not all(0.0 <= (o.get("visible") or 0.0) <= 1.0 for o in objects):
                out.append("objects: visible outside [0, 1]")
            if not any(all(o.get(k) == v for k, v in own.items()) for o in objects):
                out.append("objects does not hold the row's own object")
    if scene.blend != "none" and blend not in (MODES if scene.blend == "mixed" else (scene.blend,)):
        out.append(f"blend '{blend}' is not what --blend {scene.blend} makes")
    return out


def verify(out, workers: int | None = None) -> tuple[list[str], dict]:
    """(problems, summary). Problems are one line each; an empty list means the folder is sound.
    Shards are checked in `workers` processes (all cores by default). A folder that a run is
    writing is refused (FgBgError) rather than reported half-made."""
    out = Path(out)
    manifest_path = state_path(out, "manifest.json")
    if not manifest_path.is_file():
        raise FgBgError(f"'{out}' has no {STATE_DIR}/manifest.json: not a folder made by `fgbg-depth generate`")
    with FolderLock(out, "verify"):
        return _verify(out, json.loads(manifest_path.read_text())["recipe"], workers or os.cpu_count() or 1)


def _verify(out: Path, recipe: dict, workers: int) -> tuple[list[str], dict]:
    plan = _plan_from(recipe)
    try:
        recorded = {name: sha for split in json.loads(state_path(out, "report.json").read_text())["splits"].values()
                    for name, sha in split["sha256"].items()}
    except (OSError, ValueError, KeyError):
        recorded = {}
    specs = plan.all_shards()
    tasks = [(str(out), recipe, spec, recorded.get(spec.filename)) for spec in specs]
    if workers > 1 and len(specs) > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(specs)), mp_context=ctx) as pool:
            checked = list(pool.map(_check_shard, tasks))
    else:
        checked = [_check_shard(task) for task in tasks]
    problems: list[str] = [line for lines, _, _ in checked for line in lines]
    parts = [part for _, part, _ in checked if part]
    sums = [{"split": spec.split, "index": spec.index, "stats": acc}
            for spec, (_, _, acc) in zip(specs, checked) if acc is not None]
    planned = {s.filename for s in specs}
    for stray in sorted((out / "data").glob("*")):
        if stray.name not in planned:
            problems.append(f"data/{stray.name}: not part of this run's plan")
    figures = split_figures(parts, plan.split_names)
    source_figures = _read_sources(out, problems)
    with_depth = recipe["depth"] != "none"
    scale = recipe.get("depth_scale") or DEPTH_SCALE
    channel_stats = stats.split_stats(sums, with_depth, scale) if len(sums) == len(specs) else None
    problems += _check_card(out, plan, figures, source_figures, channel_stats, with_depth, SceneOptions.from_recipe(recipe))
    summary = {"shards": len(specs), "rows": {k: v["num_examples"] for k, v in figures.items()},
               "bytes": {k: v["download_size"] for k, v in figures.items()}}
    return problems, summary


@functools.lru_cache(maxsize=4)
def _cached_plan(recipe_json: str) -> Plan:
    return _plan_from(json.loads(recipe_json))


def _check_shard(task) -> tuple[list[str], tuple | None, dict | None]:
    """One shard: (problems, (split, rows, arrow_nbytes, file bytes) or None, its sums or None)."""
    out, recipe, spec, recorded_sha = task
    plan = _cached_plan(json.dumps(recipe, sort_keys=True))
    size, with_depth, scene = recipe["size"], recipe["depth"] != "none", SceneOptions.from_recipe(recipe)
    path = Path(out) / "data" / spec.filename
    where = f"data/{spec.filename}"
    if not path.is_file():
        return [f"{where}: missing"], None, None
    problems = []
    if recorded_sha and file_sha256(path) != recorded_sha:
        problems.append(f"{where}: bytes differ from what generate wrote (sha256 mismatch)")
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True)
        table = pf.read()
    except Exception as exc:
        return problems + [f"{where}: unreadable Parquet ({str(exc).splitlines()[0][:100]})"], None, None
    part = (spec.split, table.num_rows, arrow_nbytes(table), path.stat().st_size)
    if table.num_rows != spec.rows:
        problems.append(f"{where}: {table.num_rows} rows, the plan says {spec.rows}")
    categories = recipe.get("categories")
    if not pf.schema_arrow.equals(schema(with_depth, scene, categories and categories["names"]), check_metadata=True):
        return problems + [f"{where}: schema differs from the dataset contract"], part, None
    ids = plan.split_ids(spec.split)[spec.start:spec.stop]
    if not np.array_equal(table.column("sample_id").to_numpy(), ids):
        problems.append(f"{where}: sample ids differ from the plan")
    if categories:
        problems += _category_problems(table, categories["of_foregrounds"], scene, where)
    return problems, part, shard_sums(table, size, with_depth, where, problems, scene)


def _category_problems(table, of_foregrounds: list[int], scene: SceneOptions, where: str) -> list[str]:
    """Each row's `category` (and each object's) is its foreground's, as the recipe records it."""
    want = np.asarray(of_foregrounds)[table.column("fg_id").to_numpy()]
    bad = np.flatnonzero(table.column("category").to_numpy() != want)
    out = [f"{where} row {i}: category {table.column('category')[i].as_py()}, its foreground's is {want[i]}"
           for i in bad[:3]]
    if scene.multi:
        for i, objects in enumerate(table.column("objects").to_pylist()):
            if any(o["category"] != of_foregrounds[o["fg_id"]] for o in objects):
                out.append(f"{where} row {i}: an object's category is not its foreground's")
                break
    return out


def _read_sources(out: Path, problems: list[str]) -> dict:
    parts = []
    for role in ("backgrounds", "foregrounds"):
        files = sorted((out / "sources").glob(f"{role}-*.parquet"))
        if not files:
            problems.append(f"sources/{role}-*.parquet: missing")
        for path in files:
            try:
                table = pq.read_table(path)
            except Exception as exc:
                problems.append(f"sources/{path.name}: unreadable Parquet ({str(exc).splitlines()[0][:100]})")
                continue
            if not table.schema.equals(source_schema(), check_metadata=True):
                problems.append(f"sources/{path.name}: schema differs from the dataset contract")
            parts.append((role, table.num_rows, arrow_nbytes(table), path.stat().st_size))
    return split_figures(parts, ("backgrounds", "foregrounds"))


def _check_info(meta: dict, config: str, figures: dict) -> list[str]:
    """The card's dataset_info for one config against the figures computed from the files."""
    info = next((i for i in meta.get("dataset_info") or [] if i.get("config_name") == config), None)
    if info is None:
        return [f"README.md: no dataset_info for the {config} config"]
    problems = []
    card_splits = {s.get("name"): s for s in info.get("splits") or []}
    if set(card_splits) != set(figures):
        problems.append(f"README.md: {config} splits {sorted(card_splits)}, the files hold {sorted(figures)}")
    for name, fig in figures.items():
        card = card_splits.get(name, {})
        for key in ("num_examples", "num_bytes"):
            if card.get(key) != fig[key]:
                problems.append(f"README.md: {config}/{name} {key} {card.get(key)} != {fig[key]} in the files")
    for key, want in (("download_size", sum(f["download_size"] for f in figures.values())),
                      ("dataset_size", sum(f["num_bytes"] for f in figures.values()))):
        if info.get(key) != want:
            problems.append(f"README.md: {config} {key} {info.get(key)} != {want} in the files")
    return problems


def _check_card(out: Path, plan: Plan, figures: dict, source_figures: dict, channel_stats: dict | None,
                with_depth: bool, scene: SceneOptions = SceneOptions()) -> list[str]:
    problems = []
    for name in plan.split_names:
        if figures[name]["num_examples"] != len(plan.split_ids(name)):
            problems.append(f"data/{name}-*: {figures[name]['num_examples']} rows, the plan has "
                            f"{len(plan.split_ids(name))}")
    try:
        meta = read_card_metadata((out / "README.md").read_text(encoding="utf-8"))
    except OSError:
        return problems + ["README.md: missing"]
    except Exception as exc:
        return problems + [f"README.md: YAML does not parse ({str(exc).splitlines()[0][:80]})"]
    problems += _check_info(meta, "default", figures)
    problems += _check_info(meta, "sources", source_figures)
    configs = {c.get("config_name") for c in meta.get("configs") or []}
    if not {"default", "sources"} <= configs:
        problems.append(f"README.md: configs {sorted(configs)} lack default or sources")
    try:
        written = json.loads((out / "stats.json").read_text())
    except (OSError, ValueError):
        return problems + ["stats.json: missing or unreadable"]
    if meta.get("channel_stats") != written.get("channel_stats"):
        problems.append("README.md: channel_stats differ from stats.json")
    if channel_stats is not None:  # only when every shard could be read
        for split, columns in channel_stats.items():
            for col, got in columns.items():
                if (written.get("channel_stats", {}).get(split) or {}).get(col) != got:
                    problems.append(f"stats.json: {split}/{col} differs from the statistics of the shards")
    if with_depth and not meta.get("depth_scale"):
        problems.append("README.md: depth_scale missing")
    if with_depth and written.get("depth_scale") != meta.get("depth_scale"):
        problems.append("stats.json: depth_scale differs from the card's")
    return problems
