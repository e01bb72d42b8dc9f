"""`FG/review.html`: one self-contained page (no script, pictures inlined) to look over a cut-out run.

Flagged cut-outs come first with the reasons, then the photos that gave none, then the accepted and the
kept ones. Each shows the photo, the alpha, and the cut-out on a checkerboard and on a colour far from
its own (a fringe of the old background shows there), with the checks' figures.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..model_repo import is_non_commercial
from . import records

THUMB = 200  # longest side of each picture on the page, in pixels
CHECKER = 8  # checkerboard square, in pixels
CONTRASTS = ((255, 0, 255), (0, 170, 0), (20, 60, 255), (255, 255, 255), (0, 0, 0))
SECTIONS = (("flagged", "Flagged: look before you use them"), ("skipped", "No cut-out"),
            ("accepted", "Accepted after a flag"), ("kept", "Kept: passed every check"))
REASONS = {
    "empty": "almost nothing found",
    "whole_frame": "almost the whole frame (nothing removed)",
    "touches_edge": "touches the photo's edge (cut off by the frame?)",
    "pieces": "falls apart into several sizeable pieces",
    "unsure": "many unsure pixels (probability between 0.1 and 0.9) for its size",
}


def photo_thumbnail(rgb: np.ndarray) -> bytes:
    """The photo at most THUMB pixels on its longer side, as JPEG (made once, when it is cut out)."""
    im = Image.fromarray(rgb)
    im.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR)
    return _jpeg(im)


def _jpeg(im: Image.Image) -> bytes:
    buffer = io.BytesIO()
    im.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _png(im: Image.Image) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return buffer.getvalue()


def _img(data: bytes, mime: str, alt: str) -> str:
    return f'<img src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}" alt="{html.escape(alt)}">'


def contrast_colour(rgba: np.ndarray) -> tuple[int, int, int]:
    """Of CONTRASTS, the colour farthest from the object's mean colour (where it is mostly opaque)."""
    solid = rgba[..., 3] >= 128
    mean = rgba[..., :3][solid].mean(axis=0) if solid.any() else np.full(3, 128.0)
    return max(CONTRASTS, key=lambda c: float(((np.asarray(c) - mean) ** 2).sum()))


def cutout_views(cutout: Image.Image) -> list[tuple[bytes, str, str]]:
    """The alpha, the cut-out over a checkerboard and over a contrasting colour, as (bytes, mime, alt)."""
    im = cutout.convert("RGBA")
    im.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR)
    w, h = im.size
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // CHECKER + xx // CHECKER) % 2)[..., None] == 0, 204, 255).astype(np.uint8)
    checker = Image.fromarray(np.repeat(board, 3, axis=2), "RGB")
    checker.paste(im, (0, 0), im)
    colour = contrast_colour(np.asarray(im))
    flat = Image.new("RGB", im.size, colour)
    flat.paste(im, (0, 0), im)
    return [(_png(im.getchannel("A")), "image/png", "alpha"),
            (_jpeg(checker), "image/jpeg", "cut-out on a checkerboard"),
            (_jpeg(flat), "image/jpeg", f"cut-out on rgb{colour}")]


def _figures(record: dict) -> str:
    checks = record.get("checks") or {}
    if not checks:
        return ""
    unsure = checks.get("unsure_share")
    parts = [f"object {checks.get('object_share', 0):.1%} of the photo",
             f"edge {checks.get('edge_share', 0):.1%} of a side",
             f"{checks.get('pieces')} piece{'s' if checks.get('pieces') != 1 else ''}",
             f"unsure {unsure:.1%} of the object" if unsure is not None else "unsure –"]
    return f'<p class="figures">{html.escape(" · ".join(parts))}</p>'


def _card(out: Path, record: dict) -> str:
    name = record.get("file_name") or record["source"]
    pictures = []
    thumb = records.thumbnail_path(out, record["source"])
    if thumb.is_file():
        pictures.append(f"<figure>{_img(thumb.read_bytes(), 'image/jpeg', 'photo')}<figcaption>photo</figcaption></figure>")
    file_name = record.get("file_name")
    if file_name and (out / file_name).is_file():
        with Image.open(out / file_name) as cutout:
            views = cutout_views(cutout)
        pictures += [f"<figure>{_img(data, mime, alt)}<figcaption>{html.escape(alt)}</figcaption></figure>"
                     for data, mime, alt in views]
    reasons = [REASONS.get(f, f) for f in record.get("flags") or []]
    if record.get("skipped"):
        reasons.append(record["skipped"])
    why = f'<p class="why">{html.escape("; ".join(reasons))}</p>' if reasons else ""
    source = f' <span class="source">from {html.escape(record["source"])}</span>' if file_name else ""
    todo = (f'<p class="todo">use it as it is: <code>fgbg-depth accept FG {html.escape(file_name)}</code></p>'
            if record["status"] == "flagged" and file_name else "")
    return (f'<article class="{record["status"]}"><h3>{html.escape(name)}{source}</h3>{why}{_figures(record)}'
            f'<div class="pictures">{"".join(pictures)}</div>{todo}</article>')


def render_review(out, rows: list[dict], model: dict) -> str:
    """The page for the records `rows` of the folder `out`."""
    out = Path(out)
    lic = model.get("license") or "unknown"
    title = f"fgbg-depth cut-outs: {out.name}"
    counts = {status: sum(r["status"] == status for r in rows) for status, _ in SECTIONS}
    revision = f" at <code>{html.escape(str(model['revision'])[:12])}</code>" if model.get("revision") else ""
    warning = (f'<p class="warning">The model\'s licence ({html.escape(str(lic))}) does not allow commercial use; '
               "neither may datasets built from these cut-outs.</p>" if is_non_commercial(lic) else "")
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>',
        "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}"
        "h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}"
        "h3{font-size:14px;margin:0 0 4px}article{border:1px solid #ddd;border-radius:6px;padding:10px;"
        "margin:0 0 12px}article.flagged{border-left:6px solid #d9480f}article.skipped{border-left:6px solid #868e96}"
        "article.accepted{border-left:6px solid #1971c2}article.kept{border-left:6px solid #2f9e44}"
        ".pictures{display:flex;gap:10px;flex-wrap:wrap;align-items:flex-end}figure{margin:0}"
        "figcaption{font-size:12px;color:#555}img{display:block;max-width:200px;max-height:200px;border:1px solid #ccc}"
        ".why{color:#c92a2a;margin:0 0 4px}.figures,.source{color:#555;font-size:12px}.source{font-weight:normal}"
        ".warning{background:#fff3bf;padding:8px}code{background:#f1f3f5;padding:1px 4px}",
        f"</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>Model <code>{html.escape(str(model.get('model')))}</code>{revision}, licence {html.escape(str(lic))}, "
        f"run on {html.escape(str(model.get('provider')))}, input {html.escape(str(model.get('input_size')))}. "
        + ", ".join(f"{counts[s]} {s}" for s, _ in SECTIONS) + ".</p>",
        warning,
        "<p><code>fgbg-depth generate --foregrounds FG</code> uses the kept and the accepted cut-outs. To use a "
        "flagged one as it is (or after fixing it by hand), run <code>fgbg-depth accept FG NAME</code>; "
        "<code>fgbg-depth accept FG --all</code> accepts every flagged one.</p>",
    ]
    for status, heading in SECTIONS:
        chosen = [r for r in rows if r["status"] == status]
        if chosen:
            parts.append(f'<section id="{status}"><h2>{html.escape(heading)} ({len(chosen)})</h2>')
            parts += [_card(out, r) for r in sorted(chosen, key=lambda r: r["source"])]
            parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)
