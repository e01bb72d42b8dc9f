"""Model repositories on the Hub, fetched through `huggingface_hub.snapshot_download`: the user's cache
(HF_HOME), token (HF_TOKEN or `hf auth login`), HF_ENDPOINT and HF_HUB_OFFLINE, as every Hub tool
has them; the revision resolved to a commit sha; every failure one line that says what to do. Depth
checkpoints (depth/model_hub.py) and matting models (cutout/) both come through here.
"""

from __future__ import annotations

import re
from pathlib import Path

from .contract import read_card_metadata
from .errors import FgBgError

_SHA = re.compile(r"^[0-9a-f]{40}$")
# licence words that forbid commercial use: CC's "NC" variants, and BRIA's own licences for its RMBG models
NON_COMMERCIAL_WORDS = {"nc", "noncommercial", "bria"}


def is_repo_id(name: str) -> bool:
    """'owner/name', as the Hub spells a repository (not a path)."""
    return name.count("/") == 1 and all(name.split("/")) and not name.startswith((".", "/", "~"))


def fetch_snapshot(repo_id: str, revision: str | None, allow_patterns: list[str], what: str, fetch_ahead: str,
                   local_only: bool = False, repo_type: str = "model") -> tuple[Path, str | None]:
    """(folder, commit sha or None) of a repository's files matching `allow_patterns` (a model's, or
    a dataset's with `repo_type`), downloaded unless cached (only the cache with `local_only`). `what`
    names it in messages ("depth model 'x/y'"); `fetch_ahead` ends them with how to get it where the
    Hub can't be reached."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)
    try:
        path = Path(snapshot_download(repo_id, repo_type=repo_type, revision=revision, allow_patterns=allow_patterns,
                                      local_files_only=local_only))
    except GatedRepoError:
        raise FgBgError(f"{what} is gated: accept its conditions on its Hub page, then log in "
                        "(`hf auth login` or HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise FgBgError(f"{what} not found on the Hub at {constants.ENDPOINT} (or it is private: "
                        "log in with `hf auth login` or set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise FgBgError(f"{what} has no revision '{revision}'") from None
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else (
            "only the cache was searched" if local_only else f"the Hub at {constants.ENDPOINT} cannot be reached")
        raise FgBgError(f"{what} is not in the local Hugging Face cache and {why}; {fetch_ahead}") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise FgBgError(f"the Hub answered HTTP {status} while fetching {what}; try again later, or {fetch_ahead}") from None
    except OSError as exc:
        raise FgBgError(f"cannot fetch {what} ({exc.strerror or type(exc).__name__}); {fetch_ahead}") from None
    return path, path.name if _SHA.match(path.name) else None


def card_license(folder: Path) -> str:
    """The `license` of a model card's YAML (its `license_name` when it says 'other'), else unknown."""
    try:
        meta = read_card_metadata((folder / "README.md").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return "unknown"
    except Exception:  # YAML that does not parse
        return "unknown"
    lic = meta.get("license")
    if lic == "other" and meta.get("license_name"):
        lic = meta["license_name"]
    return str(lic) if lic else "unknown"


def is_non_commercial(license_name) -> bool:
    """Whether a card's licence forbids commercial use ("cc-by-nc-4.0", "bria-rmbg-1.4", ...): such a
    model is never a default, and the card of a dataset made with it says so."""
    text = str(license_name).lower()
    return bool(set(re.split(r"[-_\s.]+", text)) & NON_COMMERCIAL_WORDS) or "non-commercial" in text
