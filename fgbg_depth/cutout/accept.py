"""`fgbg-depth accept FG NAME... | --all`: the one step that lets `generate` use a flagged cut-out, as it is
now (a cut-out fixed by hand is accepted with its new bytes). `--undo` takes an acceptance back."""

from __future__ import annotations

import json
from pathlib import Path

from ..assets import file_sha256
from ..contract import state_path
from ..errors import FgBgError
from ..lock import FolderLock
from . import records
from .run import finish_folder


def accept(folder, names: list[str], every_flagged: bool = False, undo: bool = False) -> dict:
    """Mark the named cut-outs (their file_name in FG, or their photo's name) accepted, or flagged again
    with `undo`; rewrites metadata.jsonl and review.html. Returns {"changed": [...], "summary": ...}."""
    out = Path(folder).expanduser()
    rows = records.read_metadata(out)
    manifest = state_path(out, records.MANIFEST)
    if rows is None or not manifest.is_file():
        raise FgBgError(f"'{out}' is not a folder made by `fgbg-depth cutout` (no {records.METADATA} with its records)")
    if not names and not every_flagged:
        raise FgBgError("name the cut-outs to accept (as in FG/metadata.jsonl or the review page), or give --all")
    with FolderLock(out, "accept"):
        state = {r["source"]: records.read_record(out, r["source"]) or r for r in rows}
        by_name = {key: source for source, r in state.items() for key in (source, r.get("file_name")) if key}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise FgBgError(f"no cut-out named '{unknown[0]}' in '{out}'; names are those of {records.METADATA}")
        was, now = ("accepted", "flagged") if undo else ("flagged", "accepted")
        chosen = [by_name[n] for n in names] or [s for s, r in state.items() if r["status"] == was]
        chosen = list(dict.fromkeys(chosen))
        for source in chosen:  # all checked before any is changed
            record = state[source]
            if record["status"] != was:
                raise FgBgError(f"'{record.get('file_name') or source}' is {record['status']}, not {was}; "
                                "nothing to " + ("undo" if undo else "accept"))
            if not (out / record["file_name"]).is_file():
                raise FgBgError(f"'{out / record['file_name']}' is missing; run `fgbg-depth cutout` again to make it")
        changed = []
        for source in chosen:
            record = state[source]
            path = out / record["file_name"]
            record.update(status=now, cutout_sha256=file_sha256(path))  # accepted as it is now
            records.write_record(out, record)
            changed.append(record["file_name"])
        model = json.loads(manifest.read_text())["recipe"]["matting"]
        summary = finish_folder(out, list(state.values()), model)
    return {"changed": changed, "summary": summary}
