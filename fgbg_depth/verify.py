"""`fgbg-depth verify OUT`: check every shard, the card and the stats against the run's plan."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from . import read_card_metadata
from .assets import file_sha256
from .errors import FgBgError
from .plan import Plan
from .shards import image_columns, schema
from .worker import STATE_DIR

MAX_LISTED = 50


def _plan_from(recipe: dict) -> Plan:
    return Plan(len(recipe["backgrounds"]), len(recipe["foregrounds"]), recipe["placements"], recipe["seed"],
                recipe["test_fraction"], recipe["split_by"], recipe["shard_rows"])


def _check_images(table, size: int, with_depth: bool, where: str, problems: list[str]) -> None:
    expected = {"fg_bg": ("JPEG", ("RGB",)), "bg": ("JPEG", ("RGB",)), "mask": ("PNG", ("L",)),
                "depth": ("PNG", ("I;16", "I;16B", "I"))}
    for col in image_columns(with_depth):
        fmt, modes = expected[col]
        seen_bg: set[bytes] = set()
        for i, cell in enumerate(table.column(col).to_pylist()):
            data = cell["bytes"] if cell else None
            if col == "bg":
                if data in seen_bg:
                    continue
                seen_bg.add(data)
            try:
                im = Image.open(io.BytesIO(data))
                im.load()
            except Exception as exc:
                problems.append(f"{where} row {i}: {col} does not decode ({type(exc).__name__})")
                continue
            if im.format != fmt or im.mode not in modes or im.size != (size, size):
                problems.append(f"{where} row {i}: {col} is {im.format} {im.mode} {im.size[0]}x{im.size[1]}, "
                                f"expected {fmt} {modes[0]} {size}x{size}")
                continue
            if col == "mask" and not set(np.unique(np.asarray(im)).tolist()) <= {0, 255}:
                problems.append(f"{where} row {i}: mask holds values other than 0 and 255")
            if col == "depth" and np.asarray(im).dtype != np.uint16:
                problems.append(f"{where} row {i}: depth is not 16-bit")


def verify(out) -> tuple[list[str], dict]:
    """(problems, summary). Problems are one line each; an empty list means the folder is sound."""
    out = Path(out)
    manifest_path = out / STATE_DIR / "manifest.json"
    if not manifest_path.is_file():
        raise FgBgError(f"'{out}' has no {STATE_DIR}/manifest.json: not a folder made by `fgbg-depth generate`")
    recipe = json.loads(manifest_path.read_text())["recipe"]
    plan = _plan_from(recipe)
    size, with_depth = recipe["size"], recipe["depth"] != "none"
    want_schema = schema(with_depth)
    try:
        recorded = {name: sha for split in json.loads((out / STATE_DIR / "report.json").read_text())["splits"].values()
                    for name, sha in split["sha256"].items()}
    except (OSError, ValueError, KeyError):
        recorded = {}
    problems: list[str] = []
    counts: dict[str, int] = {}
    arrow_bytes: dict[str, int] = {}
    file_bytes: dict[str, int] = {}
    specs = plan.all_shards()
    for spec in specs:
        path = out / "data" / spec.filename
        where = f"data/{spec.filename}"
        if not path.is_file():
            problems.append(f"{where}: missing")
            continue
        file_bytes[spec.split] = file_bytes.get(spec.split, 0) + path.stat().st_size
        if recorded.get(spec.filename) and file_sha256(path) != recorded[spec.filename]:
            problems.append(f"{where}: bytes differ from what generate wrote (sha256 mismatch)")
        try:
            pf = pq.ParquetFile(path, page_checksum_verification=True)
            table = pf.read()
        except Exception as exc:
            problems.append(f"{where}: unreadable Parquet ({str(exc).splitlines()[0][:100]})")
            continue
        counts[spec.split] = counts.get(spec.split, 0) + table.num_rows
        arrow_bytes[spec.split] = arrow_bytes.get(spec.split, 0) + table.nbytes
        if table.num_rows != spec.rows:
            problems.append(f"{where}: {table.num_rows} rows, the plan says {spec.rows}")
        if not pf.schema_arrow.equals(want_schema, check_metadata=True):
            problems.append(f"{where}: schema differs from the dataset contract")
            continue
        ids = plan.split_ids(spec.split)[spec.start:spec.stop]
        if not np.array_equal(table.column("sample_id").to_numpy(), ids):
            problems.append(f"{where}: sample ids differ from the plan")
        _check_images(table, size, with_depth, where, problems)
    planned = {s.filename for s in specs}
    for stray in sorted((out / "data").glob("*")):
        if stray.name not in planned:
            problems.append(f"data/{stray.name}: not part of this run's plan")
    problems += _check_card(out, plan, counts, arrow_bytes, file_bytes, with_depth)
    for role in ("backgrounds", "foregrounds"):
        if not list((out / "sources").glob(f"{role}-*.parquet")):
            problems.append(f"sources/{role}-*.parquet: missing")
    summary = {"shards": len(specs), "rows": counts, "bytes": file_bytes}
    return problems, summary


def _check_card(out: Path, plan: Plan, counts, arrow_bytes, file_bytes, with_depth: bool) -> list[str]:
    problems = []
    try:
        meta = read_card_metadata((out / "README.md").read_text(encoding="utf-8"))
    except OSError:
        return ["README.md: missing"]
    except Exception as exc:
        return [f"README.md: YAML does not parse ({str(exc).splitlines()[0][:80]})"]
    info = next((i for i in meta.get("dataset_info") or [] if i.get("config_name") == "default"), None)
    if info is None:
        return ["README.md: no dataset_info for the default config"]
    card_splits = {s.get("name"): s for s in info.get("splits") or []}
    if set(card_splits) != set(plan.split_names):
        problems.append(f"README.md: splits {sorted(card_splits)}, the plan has {list(plan.split_names)}")
    for name in plan.split_names:
        s = card_splits.get(name, {})
        n_plan = len(plan.split_ids(name))
        if s.get("num_examples") != n_plan or counts.get(name, 0) != n_plan:
            problems.append(f"README.md: {name} has num_examples {s.get('num_examples')}, the shards hold "
                            f"{counts.get(name, 0)} and the plan {n_plan}")
        if s.get("num_bytes") != arrow_bytes.get(name):
            problems.append(f"README.md: {name} num_bytes {s.get('num_bytes')} != {arrow_bytes.get(name)} in the shards")
    if info.get("download_size") != sum(file_bytes.values()):
        problems.append(f"README.md: download_size {info.get('download_size')} != {sum(file_bytes.values())} on disk")
    configs = {c.get("config_name") for c in meta.get("configs") or []}
    if not {"default", "sources"} <= configs:
        problems.append(f"README.md: configs {sorted(configs)} lack default or sources")
    try:
        stats = json.loads((out / "stats.json").read_text())
    except (OSError, ValueError):
        return problems + ["stats.json: missing or unreadable"]
    if meta.get("channel_stats") != stats.get("channel_stats"):
        problems.append("README.md: channel_stats differ from stats.json")
    for name in plan.split_names:
        for col in image_columns(with_depth):
            if not (stats.get("channel_stats", {}).get(name, {}).get(col) or {}).get("mean"):
                problems.append(f"stats.json: no stats for {name}/{col}")
    if with_depth and not meta.get("depth_scale"):
        problems.append("README.md: depth_scale missing")
    return problems
