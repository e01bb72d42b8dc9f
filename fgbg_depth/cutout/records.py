"""A cut-out folder's records: one per photo, kept in the run state and laid out for users as
`FG/metadata.jsonl` in ImageFolder's convention (`file_name` is the cut-out; `load_dataset("imagefolder",
data_dir=FG)` reads the cut-outs with their records; a photo that gave none has `file_name` null).

`status` is what `generate --foregrounds FG` goes by: `kept` (passed every check) and `accepted` (flagged,
then accepted by the user with `fgbg-depth accept`) are used; `flagged` and `skipped` are not.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import state_path
from ..errors import FgBgError
from ..shards import write_json_atomic, write_text_atomic

METADATA = "metadata.jsonl"
REVIEW = "review.html"
MANIFEST = "cutout.json"  # in FG's run state: the fingerprint and recipe of the run that made the folder
USED = ("kept", "accepted")
STATUSES = ("flagged", "accepted", "kept", "skipped")  # the review page's order
PROVENANCE = ("model", "revision", "license", "weights_sha256", "input_size", "provider")


def record_path(out, source: str) -> Path:
    """Where the run state keeps the record of the photo named `source`."""
    return state_path(out, "photos", hashlib.sha256(source.encode()).hexdigest()[:32] + ".json")


def thumbnail_path(out, source: str) -> Path:
    """Where the run state keeps the photo's thumbnail for the review page."""
    return record_path(out, source).with_suffix(".jpg")


def read_record(out, source: str) -> dict | None:
    try:
        return json.loads(record_path(out, source).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_record(out, record: dict) -> None:
    write_json_atomic(record, record_path(out, record["source"]))


def metadata_text(records: list[dict]) -> str:
    """metadata.jsonl: one line per photo, in the order of the photos' names; keys in a fixed order, so
    the same records give the same bytes."""
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n"
                   for r in sorted(records, key=lambda r: r["source"]))


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` atomically unless the file holds it already (a rerun rewrites nothing)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    write_text_atomic(text, path)
    return True


def read_metadata(folder) -> list[dict] | None:
    """The records of a cut-out folder's metadata.jsonl, or None when the folder is not one."""
    path = Path(folder) / METADATA
    if not path.is_file():
        return None
    records, n = [], 0
    try:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                records.append(json.loads(line))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FgBgError(f"'{path}' cannot be read at line {n} ({type(exc).__name__}); restore it or run "
                        "`fgbg-depth cutout` again") from None
    if not records or not all(isinstance(r, dict) and "status" in r and "source_sha256" in r for r in records):
        return None  # someone else's ImageFolder metadata: not ours to interpret
    return records


@dataclass
class CutoutFolder:
    """What `generate` needs of a cut-out folder: which files it may use, why the others are left out,
    and who made them (for the card and the run's fingerprint)."""

    usable: dict[str, dict]  # file_name → record, for kept and accepted cut-outs
    refused: dict[str, str] = field(default_factory=dict)  # file_name → why generate leaves it out
    counts: dict[str, int] = field(default_factory=dict)  # photos per status
    models: list[dict] = field(default_factory=list)  # distinct provenance of the records used

    def screen(self, name: str, sha256: str) -> str | None:
        """Why the file `name` (with this content) is not used, or None to use it."""
        if name in self.refused:
            return self.refused[name]
        record = self.usable.get(name)
        if record is None:
            return f"not a cut-out listed in {METADATA}"
        if record.get("cutout_sha256") != sha256:
            return ("changed since it was cut out; if that is your fix, accept it as it is now with "
                    f"`fgbg-depth accept FG {name}`")
        return None

    def recipe(self) -> dict:
        """For the run's fingerprint: the models and a digest of every record used."""
        digest = hashlib.sha256(metadata_text(list(self.usable.values())).encode()).hexdigest()
        return {"models": self.models, "records_sha256": digest}

    def summary(self) -> dict:
        """For the card: who cut the foregrounds out and how many of the photos' cut-outs were used."""
        return {"models": self.models, "counts": self.counts, "used": len(self.usable)}


def read_cutout_folder(folder) -> CutoutFolder | None:
    """A foregrounds folder made by `fgbg-depth cutout`, read from its metadata.jsonl; None for any other."""
    records = read_metadata(folder)
    if records is None:
        return None
    usable, refused, counts, models = {}, {}, {}, []
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        name = r.get("file_name")
        if not name:
            continue
        if r["status"] in USED:
            usable[name] = r
            model = {k: r.get(k) for k in ("model", "revision", "license", "weights_sha256")}
            if model not in models:
                models.append(model)
        elif r["status"] == "flagged":
            refused[name] = (f"flagged by `fgbg-depth cutout` ({', '.join(r.get('flags') or [])}); look at "
                             f"{REVIEW} and accept it with `fgbg-depth accept FG {name}` to use it")
    return CutoutFolder(usable, refused, {s: counts[s] for s in STATUSES if s in counts}, models)
