"""Contact sheets: one row per sample, bg | fg_bg | mask | depth (| alpha | instances), for people to look at."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

from .errors import FgBgError

# A perceptual, colour-blind-safe ramp (anchor colours of matplotlib's viridis), near = dark purple.
_RAMP = np.array([(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
                  (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)], float)
LABEL_H = 14
GAP = 4  # white space between cells, so neighbouring pictures do not read as one


def colorize(depth_m: np.ndarray, max_m: float) -> np.ndarray:
    """Depth in metres → RGB uint8 through the ramp; 0 (unknown) is black."""
    t = np.clip(depth_m / max_m, 0, 1) * (len(_RAMP) - 1)
    lo = np.floor(t).astype(int)
    hi = np.minimum(lo + 1, len(_RAMP) - 1)
    frac = (t - lo)[..., None]
    rgb = _RAMP[lo] * (1 - frac) + _RAMP[hi] * frac
    rgb[depth_m <= 0] = 0
    return rgb.astype(np.uint8)


def _decode(cell) -> Image.Image:
    return Image.open(io.BytesIO(cell["bytes"]))


def read_rows(out: Path, split: str, n: int) -> list[dict]:
    """n rows spread evenly over the split (all rows if it has fewer), reading only their row groups."""
    files = sorted((out / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise FgBgError(f"'{out}' has no {split} shards; run `fgbg-depth generate --out {out}` first")
    groups = []  # (open file, row group, first row, rows): each file's footer is read once
    total = 0
    for f in files:
        pf = pq.ParquetFile(f)
        for g in range(pf.metadata.num_row_groups):
            rows = pf.metadata.row_group(g).num_rows
            groups.append((pf, g, total, rows))
            total += rows
    wanted = sorted(set(np.linspace(0, total - 1, min(n, total)).round().astype(int).tolist()))
    rows: list[dict] = []
    for pf, g, first, count in groups:
        local = [w - first for w in wanted if first <= w < first + count]
        if local:
            table = pf.read_row_group(g).take(local)
            rows.extend(table.to_pylist())
    return rows


def category_names(out: Path, split: str) -> list[str] | None:
    """The `category` ClassLabel's names, from a shard's declared features; None without categories."""
    import json
    meta = pq.read_schema(sorted((Path(out) / "data").glob(f"{split}-*.parquet"))[0]).metadata or {}
    features = json.loads(meta.get(b"huggingface", b"{}")).get("info", {}).get("features", {})
    return (features.get("category") or {}).get("names")


def contact_sheet(out, n: int = 16, split: str = "train", depth_scale: float | None = None,
                  max_m: float | None = None) -> Image.Image:
    """n samples of a split as rows of bg | fg_bg | mask | depth; the depth ramp spans 0..max_m
    (by default the dataset's whole range: 65535 units × depth_scale)."""
    out = Path(out)
    rows = read_rows(out, split, n)
    if depth_scale is None:
        import json
        depth_scale = json.loads((out / "stats.json").read_text()).get("depth_scale") or 0.0
    max_m = max_m or round(depth_scale * 65535, 6) or 10.0
    categories = category_names(out, split)
    first = _decode(rows[0]["fg_bg"])
    s = first.width
    shown = [c for c in ("bg", "fg_bg", "mask", "depth", "alpha", "instances") if c in rows[0]]
    cols = len(shown)
    sheet = Image.new("RGB", (cols * (s + GAP) - GAP, len(rows) * (s + LABEL_H) + 24), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(rows):
        y = i * (s + LABEL_H)
        for j, col in enumerate(shown):
            if col == "depth":
                metres = np.asarray(_decode(row["depth"]), np.float32) * depth_scale
                cell = Image.fromarray(colorize(metres, max_m))
            else:  # RGB, grey, and the instance map in its palette's colours
                cell = _decode(row[col]).convert("RGB")
            sheet.paste(cell, (j * (s + GAP), y))
        label = f"#{row['sample_id']} k={row['placement']} {row['bg_name']} + {row['fg_name']}"
        label += " flipped" if row["flipped"] else ""
        label += f" +{len(row['objects']) - 1}" if row.get("objects") else ""
        label += f" [{row['blend']}]" if row.get("blend") else ""
        label += f" <{categories[row['category']]}>" if categories and row.get("category") is not None else ""
        draw.text((2, y + s + 1), label, fill=(0, 0, 0))
    y = len(rows) * (s + LABEL_H) + 4
    if "depth" in shown:  # scale bar under the depth column
        x0, width = shown.index("depth") * (s + GAP) + 24, max(8, s - 58)
        bar = colorize(np.tile(np.linspace(0, max_m, width)[None], (10, 1)), max_m)
        sheet.paste(Image.fromarray(bar), (x0, y))
        draw.text((x0 - 22, y), "0 m", fill=(0, 0, 0))
        draw.text((x0 + width + 3, y), f"{max_m:g} m", fill=(0, 0, 0))
    for j, col in enumerate(shown):  # each column named under itself; depth has its scale bar instead
        if col != "depth":
            draw.text((j * (s + GAP) + 2, y + 4), col, fill=(0, 0, 0))
    return sheet
