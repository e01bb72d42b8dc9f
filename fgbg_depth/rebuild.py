"""`fgbg-depth rebuild REPO_ID|FOLDER --out OUT`: make a published dataset's shards again from its own card
(the recipe, the versions that decide the bytes, each shard's SHA-256) and its `sources` config (the input
files, byte for byte), then check every shard against the card.

What cannot be reproduced is said in one line before any work: a card without a recipe, another format
or blend version, a depth plug-in that is not installed, a model revision that cannot be had. Library
versions that differ from the card's (Pillow, simplejpeg, zlib, pyarrow, NumPy) are named, not hidden:
the run goes on, and the check at the end says whether the bytes came out the same.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .assets import Listing, file_sha256
from .contract import FORMAT_VERSION, read_card_metadata, state_path
from .errors import FgBgError
from .finalize import versions
from .generate import GenerateOptions, generate
from .model_repo import fetch_snapshot
from .scene import SceneOptions

SOURCE_ROLES = ("backgrounds", "foregrounds")


def fetch_published(source: str, revision: str | None) -> Path:
    """A local dataset folder as it is, or a Hub dataset repository's card and `sources/` (the user's
    cache; its data shards are not needed)."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        return folder
    path, _ = fetch_snapshot(source, revision, ["README.md", "sources/*"], f"dataset '{source}'",
                             f"run once where it can (`hf download {source} --repo-type dataset`)",
                             repo_type="dataset")
    return path


def read_card(folder: Path, source: str) -> dict:
    """The card's metadata, whose `fgbg_depth` key holds {"recipe", "versions", "shards"}; refuses what
    cannot be rebuilt."""
    try:
        meta = read_card_metadata((folder / "README.md").read_text(encoding="utf-8"))
    except OSError:
        raise FgBgError(f"'{source}' has no README.md: not a dataset made by fgbg-depth") from None
    made = meta.get("fgbg_depth")
    if not isinstance(made, dict) or not made.get("recipe") or not made.get("shards"):
        raise FgBgError(f"the card of '{source}' has no recipe (made by an fgbg-depth older than `rebuild`, or by "
                        "something else); it cannot be rebuilt from its card")
    recipe = made["recipe"]
    if recipe.get("format_version") != FORMAT_VERSION:
        raise FgBgError(f"'{source}' was made in shard format {recipe.get('format_version')}; this fgbg-depth "
                        f"writes format {FORMAT_VERSION}: install the fgbg-depth {made['versions'].get('fgbg_depth')} "
                        "that made it")
    here = SceneOptions.from_recipe(recipe).versions()
    for key, (what, first) in SceneOptions.VERSION_KEYS.items():
        if here.get(key) != recipe.get(key, first):
            raise FgBgError(f"'{source}' was made with {what} {recipe.get(key, first or 'none')}; this fgbg-depth "
                            f"has {here.get(key) or 'none'}: install the fgbg-depth {made['versions'].get('fgbg_depth')} "
                            "that made it")
    return meta


def version_differences(recorded: dict) -> list[str]:
    """'pillow 12.1.0 in the card, 13.0.0 here', for each library whose version differs (not the
    resizer: its wheel and its NumPy form give the same bytes)."""
    here = versions()
    return [f"{name} {recorded[name]} in the card, {here.get(name, 'none')} here"
            for name in sorted(recorded) if name not in ("python", "resize") and recorded[name] != here.get(name)]


def unpack_sources(folder: Path, recipe: dict, into: Path) -> dict[str, Listing]:
    """The input files from `sources/`, written under their names and checked against the recipe's
    SHA-256s; the foregrounds' categories as the recipe records them (ids agree with the published ones)."""
    import pyarrow.parquet as pq
    listings = {}
    for role in SOURCE_ROLES:
        shards = sorted((folder / "sources").glob(f"{role}-*.parquet"))
        if not shards:
            raise FgBgError(f"'{folder}' has no sources/{role}-*.parquet: the inputs are not published with it")
        files = []
        for shard in shards:
            for row in pq.read_table(shard, columns=["image", "name"]).to_pylist():
                path = into / role / row["name"]
                if not path.resolve().is_relative_to(into.resolve()):
                    raise FgBgError(f"sources/{shard.name} names a file outside its folder: '{row['name']}'")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(row["image"]["bytes"])
                files.append((row["name"], path))
        wanted = [tuple(pair) for pair in recipe[role]]
        got = [(name, file_sha256(path)) for name, path in sorted(files)]
        if got != wanted:
            raise FgBgError(f"the {role} in sources/ are not the ones the card's recipe names (by name and SHA-256)")
        categories = recipe.get("categories") if role == "foregrounds" else None
        listings[role] = Listing(f"{role} of the published dataset", sorted(files), [],
                                 {name: categories["names"][i] for (name, _), i in
                                  zip(sorted(files), categories["of_foregrounds"])} if categories else None,
                                 categories["names"] if categories else None)
    return listings


def options_from(recipe: dict, out: str, listings: dict, license_: str | None, workers: int | None,
                 progress: bool, card: dict | None = None) -> GenerateOptions:
    """The generate arguments the recipe records, depth pinned to what made the published shards, and
    where the inputs first came from (a cut-out model, Hub datasets: the recipe's records and the
    card's `cutout_source`), which the rebuilt card and recipe name as the published ones do."""
    depth = recipe["depth"]
    info = recipe.get("depth_model") or {}
    opts = GenerateOptions(out=out, backgrounds=listings["backgrounds"], foregrounds=listings["foregrounds"],
                           placements=recipe["placements"], size=recipe["size"], depth=depth,
                           test_fraction=recipe["test_fraction"], split_by=recipe["split_by"], seed=recipe["seed"],
                           shard_rows=recipe["shard_rows"], workers=workers, license=license_, progress=progress,
                           **{k: v for k, v in SceneOptions.from_recipe(recipe).__dict__.items()})
    carried = {"cutout": recipe.get("cutout"), "hub_inputs": recipe.get("hub_inputs"),
               "cutouts": (card or {}).get("cutout_source")}
    opts.provenance = {k: v for k, v in carried.items() if v}
    if depth == "depth-anything":
        opts.depth_model, opts.depth_revision = info.get("model"), info.get("revision")
    if depth in ("depth-anything", "densedepth"):
        opts.precision = info.get("precision", opts.precision)
        opts.depth_input_size = (info.get("input_size") or [opts.depth_input_size])[0]
    if depth not in ("depth-anything", "densedepth", "planar", "none"):
        opts.depth_plugin_options = dict(info.get("options") or {})
    return opts


def check_depth_source(recipe: dict) -> None:
    """One line, before any work, if the depth that made the shards cannot be had here."""
    depth = recipe["depth"]
    if depth in ("planar", "none"):
        return
    if depth == "densedepth":
        raise FgBgError("the dataset was made with DenseDepth, whose weights file is not on the Hub; run "
                        "`fgbg-depth generate` with its recipe and --depth-weights (SHA-256 "
                        f"{(recipe.get('depth_model') or {}).get('weights_sha256')})")
    if depth == "depth-anything":
        from .depth.model_hub import fetch_model
        info = recipe.get("depth_model") or {}
        if not info.get("revision"):
            raise FgBgError(f"the depth model '{info.get('model')}' was a local folder: no revision to fetch")
        fetch_model(info["model"], info["revision"])  # a revision that is gone is its one line
        return
    from .depth.base import plugins
    if depth not in plugins():
        raise FgBgError(f"the dataset was made with the depth plug-in '{depth}', which is not installed here")


def rebuild(source: str, out: str, revision: str | None = None, workers: int | None = None,
            progress: bool = True) -> dict:
    """Regenerate `source` into `out`; returns {"equal": [...], "differ": [...], "differences": [...]}."""
    folder = fetch_published(source, revision)
    card = read_card(folder, source)
    made = card["fgbg_depth"]
    recipe = made["recipe"]
    check_depth_source(recipe)
    differences = version_differences(made.get("versions") or {})
    for line in differences:
        print(f"fgbg-depth: note: {line}; the shards may not come out byte for byte", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="fgbg-depth-rebuild-") as staging:  # the inputs, while generate runs
        listings = unpack_sources(folder, recipe, Path(staging))
        summary = generate(options_from(recipe, out, listings, card.get("license"), workers, progress, card))
    got = {name: sha for split in summary["splits"].values() for name, sha in split["sha256"].items()}
    equal = sorted(n for n, sha in made["shards"].items() if got.get(n) == sha)
    differ = sorted(n for n in made["shards"] if n not in equal)
    return {"equal": equal, "differ": differ, "differences": differences,
            "report": str(state_path(out, "report.json"))}
