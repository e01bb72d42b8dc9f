"""The `fgbg-depth` command."""

from __future__ import annotations

import argparse
import os
import sys

from .errors import FgBgError
from .version import __version__


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="make the dataset into OUT (resumes an interrupted run)")
    p.add_argument("--out", required=True, help="output folder; it becomes the Hub repository")
    p.add_argument("--backgrounds", help="folder or glob of background images, or a Hub dataset "
                                         "hf://datasets/OWNER/NAME[@REV][/PATH] (default: bundled samples)")
    p.add_argument("--foregrounds", help="folder or glob of RGBA cut-outs (sub-folders: categories), a folder made by "
                                         "`fgbg-depth cutout`, or a Hub dataset hf://datasets/... (default: bundled samples)")
    p.add_argument("--backgrounds-sample", type=int, metavar="N",
                   help="use N images of a Hub dataset's backgrounds, drawn with --seed [all]")
    p.add_argument("--foregrounds-sample", type=int, metavar="N", help="the same for the foregrounds [all]")
    p.add_argument("--background-column", help="a Parquet dataset's image column for backgrounds [its only Image column]")
    p.add_argument("--foreground-column", help="a Parquet dataset's image column for foregrounds [its only Image column]")
    p.add_argument("--label-column", help="a Parquet dataset's ClassLabel column: the foregrounds' categories "
                                          "[its only ClassLabel, if any]")
    p.add_argument("--matte-column", help="a Parquet dataset's alpha/matte image column that makes the foregrounds "
                                          "RGBA (AIM-500, DIS5K keep image and matte apart)")
    p.add_argument("--placements", type=int, default=20, help="placements per (bg, fg, flip) [20]")
    p.add_argument("--size", type=int, default=160, help="output images are SIZE×SIZE [160]")
    p.add_argument("--depth", default="auto", metavar="BACKEND",
                   help="depth-anything (recommended; downloads its model once), densedepth, planar, none, or an "
                        "installed plug-in [auto: a configured or cached model, else planar; never downloads]")
    p.add_argument("--depth-model", help="Depth Anything checkpoint: a Hub model id or a folder (or set "
                                         "FGBG_DEPTH_MODEL) [depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf]")
    p.add_argument("--depth-revision", help="branch, tag or commit of --depth-model on the Hub [main]")
    p.add_argument("--depth-weights", help="DenseDepth nyu.h5 (or set FGBG_DEPTH_WEIGHTS)")
    p.add_argument("--depth-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option for a plug-in depth backend's factory (repeatable; values are strings)")
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="depth model compute precision [float32]")
    p.add_argument("--depth-input-size", type=int, default=448,
                   help="side of the square composite fed to the depth model: a multiple of 14 for Depth "
                        "Anything, of 32 for DenseDepth [448]")
    p.add_argument("--test-fraction", type=float, default=0.3, help="share of the test split [0.3]")
    p.add_argument("--split-by", default="sample", choices=["sample", "background", "foreground"],
                   help="what the split keeps apart [sample]")
    p.add_argument("--seed", type=int, default=0, help="global seed [0]")
    p.add_argument("--workers", type=int, help="worker processes [all cores]")
    p.add_argument("--engine", default="local", choices=["local", "ray"], help="where shards run [local]")
    p.add_argument("--ray-address", help="Ray cluster address (with --engine ray)")
    p.add_argument("--blend", default="none", choices=["none", "gaussian", "poisson", "motion", "mixed"],
                   help="how objects are blended in: none, gaussian (feathered alpha), poisson (seamless), "
                        "motion (small motion blur), or mixed (one per sample) [none]")
    p.add_argument("--alpha", action="store_true", help="add an `alpha` column: the weight the objects got")
    p.add_argument("--objects", type=int, default=1,
                   help="cut-outs per composite, 1-8; with more than one, `instances` and `objects` columns [1]")
    p.add_argument("--shard-rows", type=int, help="rows per shard [2000, fewer for large --size]")
    p.add_argument("--license", help="license id for the card [cc0-1.0 for the bundled samples, else other]")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _plugin_options(pairs: list[str], flag: str = "--depth-option") -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise FgBgError(f"{flag} wants KEY=VALUE with KEY a Python name, got '{pair}'")
        options[key.strip()] = value
    return options


def _run_generate(args) -> int:
    from .generate import GenerateOptions, generate
    extra = {"address": args.ray_address} if args.ray_address else {}
    opts = GenerateOptions(out=args.out, backgrounds=args.backgrounds, foregrounds=args.foregrounds,
                           placements=args.placements, size=args.size, depth=args.depth,
                           depth_weights=args.depth_weights, depth_model=args.depth_model,
                           depth_revision=args.depth_revision, depth_plugin_options=_plugin_options(args.depth_option),
                           precision=args.precision,
                           depth_input_size=args.depth_input_size,
                           test_fraction=args.test_fraction, split_by=args.split_by, seed=args.seed,
                           workers=args.workers, engine=args.engine, license=args.license,
                           shard_rows=args.shard_rows, blend=args.blend, alpha=args.alpha, objects=args.objects,
                           progress=not args.quiet, extra=extra, backgrounds_sample=args.backgrounds_sample,
                           foregrounds_sample=args.foregrounds_sample, background_column=args.background_column,
                           foreground_column=args.foreground_column, label_column=args.label_column,
                           matte_column=args.matte_column)
    summary = generate(opts)
    for s in summary["skipped"]:
        print(f"fgbg-depth: skipped {s['role']}/{s['name']}: {s['reason']}", file=sys.stderr)
    counts = ", ".join(f"{v['num_examples']} {k}" for k, v in summary["splits"].items())
    print(f"wrote {summary['num_samples']} samples ({counts}) to {args.out}")
    return 0


CHECK_HELP = {
    "empty_below": "flag 'empty' when the object covers less than this share of the photo",
    "whole_frame_above": "flag 'whole_frame' when it covers more than this share (nothing removed)",
    "edge_above": "flag 'touches_edge' when it fills more than this share of one side of the frame",
    "piece_min_share": "a separate part counts as a piece from this share of the object's area",
    "pieces_above": "flag 'pieces' when the object falls into more pieces than this",
    "unsure_above": "flag 'unsure' when unsure pixels exceed this share of the object's area",
    "unsure_low": "probabilities above this (and below --unsure-high) are unsure",
    "unsure_high": "probabilities below this (and above --unsure-low) are unsure",
}


def _add_cutout(sub) -> None:
    from dataclasses import fields

    from .cutout.checks import CheckThresholds
    p = sub.add_parser("cutout", help="plain photos → checked RGBA cut-outs in FG, for --foregrounds (resumes)")
    p.add_argument("photos", nargs="+", metavar="PHOTOS", help="folders (their sub-folders are kept), globs or files")
    p.add_argument("--out", required=True, help="folder of cut-outs, records (metadata.jsonl) and review.html")
    p.add_argument("--model", help="a Hub model id, a folder, an .onnx file, or an installed matting plug-in "
                                   "[onnx-community/BiRefNet_lite-ONNX]")
    p.add_argument("--revision", help="branch, tag or commit of --model on the Hub [main]")
    p.add_argument("--model-file", help="the ONNX file inside the repository or folder [onnx/model.onnx]")
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option for a matting plug-in's factory (repeatable; values are strings)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where ONNX Runtime runs the model [auto: CUDA when this onnxruntime has it]")
    p.add_argument("--batch-size", type=int, help="photos per model run [1 on the CPU, 4 with CUDA]")
    p.add_argument("--workers", type=int, help="processes decoding and finishing photos [1 on the CPU, up to 8 with CUDA]")
    p.add_argument("--margin", type=float, default=0.02, help="space around the object, a share of its longer side [0.02]")
    for f in fields(CheckThresholds):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default, dest=f"check_{f.name}",
                       metavar="N" if f.type == "int" else "SHARE", help=f"{CHECK_HELP[f.name]} [{f.default}]")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_cutout(args) -> int:
    from dataclasses import fields

    from .cutout.checks import CheckThresholds
    from .cutout.run import CutoutOptions, cutout
    thresholds = CheckThresholds(**{f.name: getattr(args, f"check_{f.name}") for f in fields(CheckThresholds)})
    opts = CutoutOptions(photos=args.photos, out=args.out, model=args.model, revision=args.revision,
                         model_file=args.model_file, model_options=_plugin_options(args.model_option, "--model-option"),
                         device=args.device, batch_size=args.batch_size, workers=args.workers, thresholds=thresholds,
                         margin=args.margin, progress=not args.quiet)
    summary = cutout(opts)
    counts, model = summary["counts"], summary["model"]
    print(f"cut out {summary['photos']} photos into {args.out}: {counts['kept']} kept, {counts['flagged']} flagged, "
          f"{counts['accepted']} accepted, {counts['skipped']} without a cut-out; model {model.get('model')}"
          + (f" at {str(model['revision'])[:12]}" if model.get("revision") else "")
          + f" ({model.get('license')}) on {model.get('provider')}; review: {args.out}/review.html")
    if counts["kept"] + counts["flagged"] + counts["accepted"] == 0:
        print(f"fgbg-depth: error: no photo gave a cut-out; see {args.out}/review.html", file=sys.stderr)
        return 1
    return 0


def _add_accept(sub) -> None:
    p = sub.add_parser("accept", help="let generate use flagged cut-outs of FG (as they are now)")
    p.add_argument("folder", metavar="FG", help="a folder made by `fgbg-depth cutout`")
    p.add_argument("names", nargs="*", metavar="NAME", help="cut-outs (file_name in metadata.jsonl) or their photos")
    p.add_argument("--all", action="store_true", help="every flagged cut-out")
    p.add_argument("--undo", action="store_true", help="take the acceptance back (flagged again)")


def _run_accept(args) -> int:
    from .cutout.accept import accept
    result = accept(args.folder, args.names, every_flagged=args.all, undo=args.undo)
    verb = "flagged again" if args.undo else "accepted"
    print(f"{verb} {len(result['changed'])} cut-outs in {args.folder}" +
          (": " + ", ".join(result["changed"][:10]) + (" ..." if len(result["changed"]) > 10 else "")
           if result["changed"] else ""))
    return 0


def _add_rebuild(sub) -> None:
    p = sub.add_parser("rebuild", help="make a published dataset's shards again from its card and sources, and check them")
    p.add_argument("source", metavar="REPO_ID|FOLDER", help="a Hub dataset made by fgbg-depth, or its folder")
    p.add_argument("--out", required=True, help="folder for the rebuilt dataset")
    p.add_argument("--revision", help="branch, tag or commit of the Hub dataset [main]")
    p.add_argument("--workers", type=int, help="worker processes [all cores]")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_rebuild(args) -> int:
    from .rebuild import rebuild
    result = rebuild(args.source, args.out, revision=args.revision, workers=args.workers, progress=not args.quiet)
    total = len(result["equal"]) + len(result["differ"])
    if result["differ"]:
        why = ("; " + "; ".join(result["differences"])) if result["differences"] else ""
        print(f"rebuilt {args.source} into {args.out}: {len(result['equal'])} of {total} data shards equal the "
              f"published ones byte for byte; these differ: {', '.join(result['differ'][:8])}{why}")
        return 1
    print(f"rebuilt {args.source} into {args.out}: all {total} data shards equal the published ones byte for byte "
          "(SHA-256 as in its card)")
    return 0


def _add_preview(sub) -> None:
    p = sub.add_parser("preview", help="contact sheet of samples: bg | fg_bg | mask | depth")
    p.add_argument("out", metavar="OUT", help="a folder made by `fgbg-depth generate`")
    p.add_argument("--n", type=int, default=16, help="samples (rows) [16]")
    p.add_argument("--split", default="train", help="split to show [train]")
    p.add_argument("--out", dest="image", default="preview.png", help="PNG file to write [preview.png]")


def _run_preview(args) -> int:
    from pathlib import Path

    from .preview import contact_sheet
    if args.n < 1:
        raise FgBgError("--n must be at least 1")
    if not Path(args.out).is_dir():
        raise FgBgError(f"'{args.out}' is not a folder made by `fgbg-depth generate`")
    sheet = contact_sheet(args.out, n=args.n, split=args.split)
    try:
        sheet.save(args.image)
    except (OSError, ValueError) as exc:
        raise FgBgError(f"cannot write '{args.image}': {exc}") from None
    print(f"wrote {args.image} ({sheet.width}x{sheet.height})")
    return 0


def _add_weights(sub) -> None:
    p = sub.add_parser("weights", help="DenseDepth weights (nyu.h5): download and check")
    wsub = p.add_subparsers(dest="weights_command", required=True)
    f = wsub.add_parser("fetch", help="download nyu.h5 from the DenseDepth release into the user cache")
    f.add_argument("--to", help="where to save it [~/.cache/fgbg-depth/nyu.h5]")
    f.add_argument("--url", help="download address [the DenseDepth release, or FGBG_DEPTH_WEIGHTS_URL]")
    f.add_argument("--sha256", help="refuse the download unless it has this SHA-256")
    f.add_argument("--any-size", action="store_true", help="do not insist on the release's exact size")


def _run_weights(args) -> int:
    from .weights import fetch
    from .depth.densedepth import NYU_BYTES
    path, digest = fetch(args.to, url=args.url, sha256=args.sha256,
                         expected_bytes=None if args.any_size else NYU_BYTES)
    print(f"saved {path} (sha256 {digest}); `--depth auto` now uses it")
    return 0


def _add_push(sub) -> None:
    p = sub.add_parser("push", help="upload OUT to a Hub dataset repository (resumes; verifies)")
    p.add_argument("out", metavar="OUT", help="a folder made by `fgbg-depth generate`")
    p.add_argument("repo_id", metavar="REPO_ID", help="user/name of the dataset repository")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", help="branch to push to (created if needed) [main]")
    p.add_argument("--force", action="store_true", help="replace files in the repository that fgbg-depth did not make")
    p.add_argument("--files-per-commit", type=int, default=50, help="files per commit [50]")
    p.add_argument("--retries", type=int, default=5,
                   help="times a call the Hub failed with a transient error (5xx, 429, a dropped "
                        "connection) is tried again, with growing waits [5]")


def _run_push(args) -> int:
    from .hub import push
    if args.files_per_commit < 1:
        raise FgBgError("--files-per-commit must be at least 1")
    url = push(args.out, args.repo_id, private=args.private, revision=args.revision, force=args.force,
               files_per_commit=args.files_per_commit, retries=args.retries)
    print(url)
    return 0


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="check every shard, the card and the stats of OUT")
    p.add_argument("out", metavar="OUT", help="a folder made by `fgbg-depth generate`")
    p.add_argument("--workers", type=int, help="processes checking shards [all cores]")


def _run_verify(args) -> int:
    from .verify import MAX_LISTED, verify
    if args.workers is not None and args.workers < 1:
        raise FgBgError("--workers must be at least 1")
    problems, summary = verify(args.out, workers=args.workers)
    rows = ", ".join(f"{n} {k}" for k, n in summary["rows"].items())
    if problems:
        print(f"{args.out}: {len(problems)} problems in {summary['shards']} shards ({rows})")
        for line in problems[:MAX_LISTED]:
            print(f"  {line}")
        if len(problems) > MAX_LISTED:
            print(f"  ... and {len(problems) - MAX_LISTED} more")
        return 1
    total = sum(summary["bytes"].values())
    print(f"{args.out}: OK: {summary['shards']} shards, {rows}, {total:,} bytes; images decode, masks binary, "
          "depth 16-bit, card and stats agree")
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page about OUT (samples, splits, stats, histograms)")
    p.add_argument("out", metavar="OUT", help="a folder made by `fgbg-depth generate`")
    p.add_argument("--n", type=int, default=16, help="samples in the contact sheet [16]")
    p.add_argument("--split", default="train", help="split to show [train]")
    p.add_argument("--out", dest="html", help="HTML file to write [OUT/.fgbg-depth/report.html]")


def _run_report(args) -> int:
    from pathlib import Path

    from .report import build_report
    if args.n < 1:
        raise FgBgError("--n must be at least 1")
    page = build_report(args.out, n=args.n, split=args.split)
    target = Path(args.html) if args.html else Path(args.out) / ".fgbg-depth" / "report.html"
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise FgBgError(f"cannot write '{target}': {exc.strerror}") from None
    print(f"wrote {target} ({len(page):,} bytes)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fgbg-depth", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fgbg-depth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_generate(sub)
    _add_cutout(sub)
    _add_accept(sub)
    _add_rebuild(sub)
    _add_preview(sub)
    _add_weights(sub)
    _add_push(sub)
    _add_verify(sub)
    _add_report(sub)
    return parser


COMMANDS = {"generate": _run_generate, "cutout": _run_cutout, "accept": _run_accept, "rebuild": _run_rebuild, "preview": _run_preview, "weights": _run_weights, "push": _run_push, "verify": _run_verify, "report": _run_report}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):  # huggingface_hub's download bars too (read when it is imported)
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        return COMMANDS[args.command](args)
    except FgBgError as exc:
        print(f"fgbg-depth: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug of ours: say so in one line; FGBG_DEPTH_DEBUG=1 shows the traceback
        if os.environ.get("FGBG_DEPTH_DEBUG"):
            raise
        print(f"fgbg-depth: internal error: {type(exc).__name__}: {exc} (set FGBG_DEPTH_DEBUG=1 for "
              "details, and please report it)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fgbg-depth: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
