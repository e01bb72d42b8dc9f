"""The dataset card (README.md of OUT): YAML the Hub reads, prose a person reads."""

from __future__ import annotations

from pathlib import Path
from string import Template

import yaml

from .scene import SceneOptions
from .contract import features, source_features
from .model_repo import is_non_commercial

TEMPLATE = Path(__file__).resolve().parent / "dataset_card.md"


def _yaml_features(feats: dict) -> list[dict]:
    """Features as the card's dataset_info lists them (what `datasets`' Features._to_yaml_list gives)."""
    out = []
    for name, f in feats.items():
        if f["_type"] == "List":
            out.append({"name": name, "list": _yaml_features(f["feature"])})
        elif f["_type"] == "ClassLabel":
            out.append({"name": name, "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(f["names"])}}}})
        else:
            out.append({"name": name, "dtype": "image" if f["_type"] == "Image" else f["dtype"]})
    return out


def card_metadata(summary: dict) -> dict:
    splits = summary["splits"]
    with_depth = summary["with_depth"]
    meta = {
        "license": summary["license"],
        "pretty_name": "fgbg-depth",
        "task_categories": ["image-segmentation", "depth-estimation"] if with_depth else ["image-segmentation"],
        **({"task_ids": ["instance-segmentation"]} if summary["arguments"].get("objects", 1) > 1 else {}),
        "tags": ["synthetic", "image-compositing", "foreground-background", "fgbg-depth"],
        "size_categories": [summary["size_category"]],
        "configs": [
            # `description` carries a digest of every shard's bytes: `datasets` keys its cache of a local
            # folder on the card's dataset_info and the files' paths and mtimes, so without it a folder
            # regenerated with new content but equal sizes and times could be answered from the old cache
            {"config_name": "default", "default": True, "description": f"fgbg-depth content {summary['content_id']}",
             "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]},
            {"config_name": "sources",
             "data_files": [{"split": "backgrounds", "path": "sources/backgrounds-*"},
                            {"split": "foregrounds", "path": "sources/foregrounds-*"}]},
        ],
        "dataset_info": [
            {"config_name": "default", "features": _yaml_features(features(with_depth, SceneOptions.from_recipe(summary["arguments"]),
                                                                       (summary.get("categories") or {}).get("names"))),
             "splits": [{"name": s, "num_bytes": v["num_bytes"], "num_examples": v["num_examples"]}
                        for s, v in splits.items()],
             "download_size": sum(v["download_size"] for v in splits.values()),
             "dataset_size": sum(v["num_bytes"] for v in splits.values())},
            {"config_name": "sources", "features": _yaml_features(source_features()),
             "splits": [{"name": s, "num_bytes": v["num_bytes"], "num_examples": v["num_examples"]}
                        for s, v in summary["sources"].items()],
             "download_size": sum(v["download_size"] for v in summary["sources"].values()),
             "dataset_size": sum(v["num_bytes"] for v in summary["sources"].values())},
        ],
    }
    if with_depth:
        meta["depth_scale"] = summary["depth_scale"]
        meta["depth_quantum_m"] = summary["depth_quantum_m"]
        depth = summary["depth"]
        meta["depth_source"] = {k: depth[k] for k in ("backend", "model", "revision", "license", "weights_sha256",
                                                      "precision", "input_size", "max_m") if depth.get(k) is not None}
    if summary.get("recipe"):  # what `fgbg-depth rebuild` makes the same shards again from, and checks them by
        meta["fgbg_depth"] = {"recipe": summary["recipe"], "versions": summary["versions"],
                              "shards": {name: sha for split in splits.values() for name, sha in split["sha256"].items()}}
    if summary.get("hub_inputs"):  # inputs taken from Hub datasets: repository, commit, path, count, licence
        meta["input_sources"] = summary["hub_inputs"]
    if summary.get("cutouts"):  # the foregrounds were cut out of photos by a model
        meta["cutout_source"] = summary["cutouts"]
    meta["channel_stats"] = summary["channel_stats"]
    return meta


def _cutout_parts(summary: dict) -> tuple[str, str]:
    """(a sentence for "How it was made", limitation lines) about foregrounds cut out of photos."""
    cut = summary.get("cutouts")
    if not cut:
        return "", ""
    models = "; ".join(f"`{m['model']}`" + (f" at revision `{m['revision']}`" if m.get("revision") else "")
                       + f" (licence {m.get('license') or 'unknown'}, weights SHA-256 `{m.get('weights_sha256')}`)"
                       for m in cut["models"])
    counts = cut["counts"]
    text = (f"\nThe foregrounds were cut out of photos by {models} with `fgbg-depth cutout`: of "
            f"{sum(counts.values())} photos, {counts.get('kept', 0)} passed every check, {counts.get('accepted', 0)} "
            f"were flagged and then accepted by hand, {counts.get('flagged', 0)} flagged ones were left out and "
            f"{counts.get('skipped', 0)} gave no cut-out; {cut['used']} cut-outs were used.\n")
    limits = ("- The cut-outs are a background-removal model's work, checked automatically and in part by eye: "
              "some may keep a sliver of their old background or lose a thin part of the object.\n")
    for m in cut["models"]:
        if is_non_commercial(m.get("license")):
            limits += (f"- The cut-out model `{m['model']}` has a non-commercial licence ({m.get('license')}): "
                       "check whether it covers data made from its output before you use this dataset "
                       "commercially.\n")
    return text, limits


def _scene_parts(args: dict) -> tuple[str, str, str]:
    """(rows after depth, rows after scale, a sentence for "How it was made") for --blend, --alpha
    and --objects; empty for the defaults."""
    size, k, blend = args["size"], args.get("objects", 1), args.get("blend", "none")
    rows, tail, text = "", "", ""
    if args.get("alpha"):
        rows += (f"| `alpha` | image (PNG, L, {size}×{size}) | the weight the objects got: fg_bg = alpha·objects + "
                 "(1 − alpha)·bg wherever the blend keeps the background |\n")
    if k > 1:
        rows += (f"| `instances` | image (palette PNG, {size}×{size}) | 0 background, i = the i-th object in paint "
                 "order (far to near), visible pixels only; `mask` = instances > 0 |\n")
        tail += ("| `objects` | list of struct | per object in paint order: `fg_id`, `fg_name`, `flipped`, `x`, `y`, "
                 "`w`, `h` (box in output pixels), `scale`, `visible` (share of its own pixels left unoccluded) |\n")
        text += (f" Each composite holds {k} cut-outs: the sample's own (the scalar columns describe it) and "
                 f"{k - 1} more drawn from the sample's generator, each placed by the same rule, painted far to "
                 "near (the higher its foot, the farther), so nearer objects hide farther ones.")
    if blend != "none":
        tail += "| `blend` | string | how the objects were blended: none, gaussian, poisson or motion |\n"
        how = {"gaussian": "feathered alpha (Gaussian, σ 1–2 px)", "motion": "a small motion blur (3–7 px)",
               "poisson": "Poisson (seamless) blending, which pulls the object's colours toward the background's",
               "mixed": "one of none, gaussian, poisson and motion per sample, drawn from its generator"}[blend]
        text += f" Blending: {how}."
    return rows, tail, text


def _hub_input_parts(summary: dict) -> tuple[str, str]:
    """(a paragraph naming the Hub datasets the inputs came from, limitation lines for their licences)."""
    origins = summary.get("hub_inputs") or {}
    text, limits = "", ""
    for role, o in origins.items():
        where = f"hf://datasets/{o['repo']}" + (f"/{o['path']}" if o.get("path") else "")
        sample = f", a sample drawn with seed {o['seed']}" if o.get("sample") else ""
        text += (f"\nThe {role} are {o['count']:,} of the {o['available']:,} images of `{where}` at commit "
                 f"`{o['commit']}` (licence: {o.get('license', 'unknown')}{sample}).\n")
        if is_non_commercial(o.get("license")):
            limits += (f"- The {role} come from `{o['repo']}`, whose licence ({o.get('license')}) does not allow "
                       "commercial use; neither does this dataset's use of them.\n")
    return text, limits


def _category_parts(summary: dict) -> tuple[str, str]:
    """(the `category` column's row, a paragraph listing the classes with their counts); empty without."""
    cats = summary.get("categories")
    if not cats:
        return "", ""
    row = (f"| `category` | ClassLabel ({len(cats['names'])} classes) | the class of the sample's own object "
           "(also in each `objects` entry); names below |\n")
    splits = list(cats["rows"])
    lines = [f"| {name} | {cats['foregrounds'].get(name, 0)} | " + " | ".join(f"{cats['rows'][s].get(name, 0):,}"
                                                                            for s in splits) + " |"
             for name in cats["names"]]
    text = ("\nClasses (`category`, ids in this order), with the foregrounds of each and the rows of each split:\n\n"
            "| class | foregrounds | " + " | ".join(splits) + " |\n| --- | --- | " + " | ".join("---" for _ in splits)
            + " |\n" + "\n".join(lines) + "\n")
    return row, text


def render_card(summary: dict) -> str:
    args = summary["arguments"]
    depth = summary["depth"]
    with_depth = summary["with_depth"]
    splits = summary["splits"]
    if depth.get("backend") == "densedepth":
        source = "DenseDepth (NYU weights) run on each composite"
        detail = (f"DenseDepth NYU model, weights SHA-256 `{depth.get('weights_sha256')}`, "
                  f"precision {depth.get('precision')}; input {depth.get('input_size')} → output resized to "
                  f"{args['size']}×{args['size']}.")
        limits = ("- DenseDepth was trained on indoor NYU scenes; outdoor depth is a rough guess, and its "
                  "range is 0.1–10 m.\n")
    elif depth.get("backend") == "depth-anything":
        model, lic = depth.get("model"), depth.get("license", "unknown")
        revision = depth.get("revision")
        source = f"Depth Anything V2 (`{model}`, metric) run on each composite"
        detail = (f"Depth Anything V2, checkpoint `{model}`"
                  + (f" at revision `{revision}`" if revision else " (a local folder)")
                  + f", licence {lic}, weights SHA-256 `{depth.get('weights_sha256')}`, "
                  f"{depth.get('parameters', 0):,} parameters; precision {depth.get('precision')}; input "
                  f"{depth.get('input_size')} → output {depth.get('output_size')} resized to {args['size']}×{args['size']}; "
                  f"metric depth in metres up to `max_depth` = {depth.get('max_m'):g} m.")
        limits = (f"- Depth is a model's prediction for the composite, not a measurement: it is as good as "
                  f"`{model}` is on such pictures, and the pasted object is judged like any other pixel. "
                  f"Its range is 0–{depth.get('max_m'):g} m.\n")
        if is_non_commercial(lic):
            limits += (f"- The depth model's licence ({lic}) restricts commercial use; check whether it covers "
                       "data derived from its predictions before you use this dataset commercially.\n")
    elif depth.get("backend") == "planar":
        source = "a planar ground prior (no depth model was run)"
        detail = (f"planar ground-plane prior: horizon at {depth['horizon']:.0%} of the height, nearest ground "
                  f"{depth['nearest_m']} m, {depth['max_m']} m at and above the horizon; the pasted object stands "
                  "where its lowest row meets the ground."
                  + (" Chosen by `--depth auto`: " + depth["note"] + "." if depth.get("note") else ""))
        limits = ("- `depth` is a geometric prior, not a measurement or a model's prediction: it ignores the "
                  "background's real geometry.\n")
    elif with_depth:  # a plug-in backend: say what it said about itself
        name = depth.get("backend")
        source = f"the `{name}` depth backend (a plug-in) run on each composite"
        detail = f"plug-in backend `{name}`: " + ", ".join(f"{k} {v}" for k, v in depth.items() if k != "backend") + "."
        limits = f"- Depth comes from the plug-in `{name}`; see its documentation for what it measures.\n"
    else:
        source, detail, limits = "nowhere: this dataset has no depth column", "none.", ""
    max_m = round(summary["depth_scale"] * 65535, 6) if with_depth else None
    skipped = summary["skipped"]
    skipped_text = ("\nSkipped inputs:\n\n" + "\n".join(f"- {s['role']}/{s['name']}: {s['reason']}" for s in skipped)
                    + "\n") if skipped else ""
    scene_rows, scene_tail_rows, scene_text = _scene_parts(args)
    cutout_text, cutout_limits = _cutout_parts(summary)
    category_row, category_text = _category_parts(summary)
    hub_text, hub_limits = _hub_input_parts(summary)
    values = {
        "scene_rows": scene_rows, "scene_tail_rows": category_row + scene_tail_rows, "scene_text": scene_text,
        "yaml": yaml.safe_dump(card_metadata(summary), sort_keys=False, allow_unicode=True).rstrip(),
        "pretty_name": "fgbg-depth",
        "depth_source": source,
        "num_samples": f"{summary['num_samples']:,}",
        "split_summary": ", ".join(f"{v['num_examples']:,} {s}" for s, v in splits.items()),
        "version": summary["versions"]["fgbg_depth"],
        "size": args["size"],
        "depth_row": ("| `depth` | image (16-bit PNG, I;16, "
                      f"{args['size']}×{args['size']}) | metres = value × `depth_scale`; 0 means unknown |\n")
        if with_depth else "",
        "depth_units": (f"`depth_scale` = {summary['depth_scale']!r} metres per unit ({max_m:g} m / 65535), a top-level key "
                        "of this card's YAML and of `stats.json`. Values are multiples of "
                        f"{round(summary['depth_quantum_m'] / summary['depth_scale'])} units "
                        f"({summary['depth_quantum_m'] * 1000:.1f} mm, `depth_quantum_m`), finer than the depth source "
                        "resolves. The Hub viewer shows a 16-bit PNG by its high byte: far is bright, near is dark.") if with_depth else "",
        "split_rule": {"sample": "each sample", "background": "whole backgrounds",
                       "foreground": "whole foregrounds"}[args["split_by"]]
        + f" assigned to test with fraction {args['test_fraction']}, a pure function of the ids and the seed",
        "command": summary["command"],
        "arguments_table": "\n".join(f"| {k} | {v} |" for k, v in args.items()),
        "n_backgrounds": len(summary["inputs"]["backgrounds"]),
        "n_foregrounds": len(summary["inputs"]["foregrounds"]),
        "skipped": skipped_text + hub_text + cutout_text + category_text,
        "depth_detail": detail,
        "depth_access": (', row["depth"]\nmetres = np.asarray(row["depth"], np.float32) * '
                         f'{summary["depth_scale"]!r}  # depth_scale') if with_depth else "",
        "depth_stat_unit": ", depth in metres" if with_depth else "",
        "depth_limitations": limits + cutout_limits + hub_limits,
    }
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(values)
