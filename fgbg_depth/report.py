"""`fgbg-depth report OUT`: one self-contained HTML page (no script, images inlined) about a dataset."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from .contract import read_card_metadata, state_path
from .errors import FgBgError
from .preview import contact_sheet, read_rows

DEPTH_SAMPLE_ROWS = 400  # depth histogram from this many rows spread over the split
SECTIONS = ("preview", "splits", "stats", "placements", "depth", "skipped", "arguments")  # and "scene",
# "categories" when the dataset has them


def _png_data_uri(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def svg_histogram(values: np.ndarray, bins: int, lo: float, hi: float, label: str, unit: str = "") -> str:
    """A bar chart as inline SVG: no script, no external file."""
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    w, h, pad = 420, 160, 30
    top = max(int(counts.max()), 1)
    bar_w = (w - 2 * pad) / bins
    bars = "".join(
        f'<rect x="{pad + i * bar_w:.1f}" y="{h - pad - c / top * (h - 2 * pad):.1f}" width="{bar_w - 1:.1f}" '
        f'height="{c / top * (h - 2 * pad):.1f}" fill="#3b6ea5"><title>{edges[i]:.3g}–{edges[i + 1]:.3g}: {c}</title></rect>'
        for i, c in enumerate(counts))
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
            f'aria-label="{html.escape(label)}"><rect width="{w}" height="{h}" fill="#fafafa"/>{bars}'
            f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#333"/>'
            f'<text x="{pad}" y="{h - 10}" font-size="11">{lo:.3g}{unit}</text>'
            f'<text x="{w - pad}" y="{h - 10}" font-size="11" text-anchor="end">{hi:.3g}{unit}</text>'
            f'<text x="{pad}" y="16" font-size="11">max {top} per bin</text></svg>'
            f"<figcaption>{html.escape(label)} (n = {len(values):,})</figcaption></figure>")


def _table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(values) -> str:
    return ", ".join(f"{v:.4f}" for v in values) if values else "–"


def _scene_section(files, names) -> str:
    """How the composites were blended, and how much of each object stayed visible."""
    out = '<section id="scene"><h2>Scene</h2>'
    if "blend" in names:
        blends = pa.concat_tables([pq.read_table(f, columns=["blend"]) for f in files]).column("blend").to_pylist()
        counts = {mode: blends.count(mode) for mode in sorted(set(blends))}
        out += _table([[mode, f"{n:,}", f"{n / len(blends):.1%}"] for mode, n in counts.items()],
                      ["blend", "samples", "share"])
    if "objects" in names:
        objects = pa.concat_tables([pq.read_table(f, columns=["objects"]) for f in files]).column("objects").to_pylist()
        visible = np.array([o["visible"] for row in objects for o in row], np.float64)
        out += (f"<p>{len(objects[0])} objects per composite, painted far to near.</p>"
                + svg_histogram(visible, 20, 0, 1, "share of each object left visible"))
    return out + "</section>"


def build_report(out, n: int = 16, split: str = "train") -> str:
    out = Path(out)
    try:
        report = json.loads(state_path(out, "report.json").read_text())
        meta = read_card_metadata((out / "README.md").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise FgBgError(f"'{out}' is not a finished fgbg-depth dataset (no report.json or README.md)") from None
    files = sorted((out / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise FgBgError(f"'{out}' has no {split} shards")
    size = report["arguments"]["size"]
    parts = ['<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fgbg-depth report</title><style>',
             "body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:left}figure{display:inline-block;margin:.5em}img{max-width:100%}",
             "</style></head><body>", f"<h1>fgbg-depth dataset: {html.escape(out.name)}</h1>"]

    max_m = round(report["depth_scale"] * 65535, 6) if report.get("depth_scale") else None
    sheet = contact_sheet(out, n=n, split=split, depth_scale=report.get("depth_scale"))
    shown = f" (0–{max_m:g} m)" if max_m else ""
    parts.append(f'<section id="preview"><h2>Samples</h2><p>{n} {split} samples spread over the split: '
                 f'bg | fg_bg | mask | depth{shown}.</p><img alt="contact sheet" src="{_png_data_uri(sheet)}"></section>')

    order = sorted(report["splits"], key=lambda name: (name != "train", name))
    rows = [[name, report["splits"][name]["num_examples"], report["splits"][name]["shards"],
             f"{report['splits'][name]['download_size']:,}"] for name in order]
    parts.append('<section id="splits"><h2>Splits</h2>' + _table(rows, ["split", "samples", "shards", "bytes"]) + "</section>")
    if report.get("categories"):
        cats = report["categories"]
        rows = [[name, cats["foregrounds"].get(name, 0), *(f"{cats['rows'][s].get(name, 0):,}" for s in order)]
                for name in cats["names"]]
        parts.append(f'<section id="categories"><h2>Categories</h2><p>{len(cats["names"])} classes in the '
                     "<code>category</code> column (a ClassLabel, ids in this order):</p>"
                     + _table(rows, ["class", "foregrounds", *order]) + "</section>")

    rows = [[s, col, _fmt(v["mean"]), _fmt(v["std"])] for s, cols in report["channel_stats"].items()
            for col, v in cols.items()]
    parts.append('<section id="stats"><h2>Channel statistics</h2><p>Images scaled to [0, 1], depth in metres.</p>'
                 + _table(rows, ["split", "column", "mean", "std"]) + "</section>")

    meta_cols = pa.concat_tables([pq.read_table(f, columns=["scale", "x", "y", "w", "h"]) for f in files])
    m = {c: meta_cols.column(c).to_numpy() for c in meta_cols.column_names}
    parts.append('<section id="placements"><h2>Placements</h2>'
                 + svg_histogram(m["scale"], 24, 0.0, 0.7, "box area / frame area")
                 + svg_histogram((m["x"] + m["w"] / 2) / size, 20, 0, 1, "box centre x / width")
                 + svg_histogram((m["y"] + m["h"]) / size, 20, 0, 1, "box bottom y / height") + "</section>")

    names = pq.ParquetFile(files[0]).schema_arrow.names
    if "blend" in names or "objects" in names:
        parts.append(_scene_section(files, names))

    if report.get("with_depth"):
        scale = report["depth_scale"]
        sample = read_rows(out, split, DEPTH_SAMPLE_ROWS)
        depth = np.concatenate([np.asarray(Image.open(io.BytesIO(r["depth"]["bytes"])), np.float64).ravel()
                                for r in sample]) * scale
        depth = depth[depth > 0]
        parts.append('<section id="depth"><h2>Depth</h2>'
                     + svg_histogram(depth, 40, 0, max_m, f"depth in metres, {len(sample)} samples", " m")
                     + f"<p>Source: {html.escape(json.dumps(report['depth']))}</p></section>")
    else:
        parts.append('<section id="depth"><h2>Depth</h2><p>This dataset has no depth column.</p></section>')

    skipped = report.get("skipped") or []
    parts.append('<section id="skipped"><h2>Skipped inputs</h2>'
                 + (_table([[s["role"], s["name"], s["reason"]] for s in skipped], ["role", "file", "reason"])
                    if skipped else "<p>None: every input file was used.</p>") + "</section>")

    args = [[k, v] for k, v in report["arguments"].items()]
    parts.append('<section id="arguments"><h2>Generation</h2><pre>' + html.escape(report["command"]) + "</pre>"
                 + _table(args, ["argument", "value"])
                 + f"<p>License: {html.escape(str(meta.get('license')))}; fingerprint {report['fingerprint'][:16]}; "
                 f"versions: {html.escape(json.dumps(report['versions']))}</p></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
