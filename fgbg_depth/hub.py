"""The Hugging Face Hub side: push a generated folder (resumable, verified) and read cards back.

The token comes from HF_TOKEN or the saved login (`hf auth login`), through huggingface_hub; this
module never prints, logs or formats it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .assets import file_sha256
from .errors import FgBgError

OUR_TAG = "fgbg-depth"
STATE_DIR = ".fgbg-depth"
HUB_OWN = {".gitattributes"}  # what the Hub puts into every new repository
DEFAULT_FILES_PER_COMMIT = 50


@dataclass(frozen=True)
class LocalFile:
    path: str  # path in the repository, POSIX
    local: Path
    size: int
    sha256: str


def _git_blob_oid(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def local_files(out: Path) -> list[LocalFile]:
    """What a push uploads: the card, stats.json, data/ and sources/; never the run state."""
    if not (out / "README.md").is_file() or not list((out / "data").glob("*.parquet")):
        raise FgBgError(f"'{out}' is not a dataset made by `fgbg-depth generate` (no README.md or data/)")
    report = out / STATE_DIR / "report.json"
    if not report.is_file():
        raise FgBgError(f"'{out}' holds an unfinished run; run the same `fgbg-depth generate` again first")
    expected = [f"data/{name}" for split in json.loads(report.read_text())["splits"].values() for name in split["files"]]
    missing = [p for p in expected if not (out / p).is_file()]
    if missing:
        raise FgBgError(f"'{out}' lacks {len(missing)} shards (e.g. {missing[0]}); run generate again to finish it")
    files = []
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if not p.is_file() or rel.startswith(STATE_DIR + "/") or any(part.startswith(".") for part in rel.split("/")):
            continue
        files.append(LocalFile(rel, p, p.stat().st_size, file_sha256(p)))
    return files


def _is_ours(path: str) -> bool:
    return path in ("README.md", "stats.json") or path.startswith(("data/", "sources/"))


def _remote_card_is_ours(api, repo_id: str, revision: str | None) -> bool:
    from huggingface_hub import hf_hub_download
    try:
        text = Path(hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision,
                                    endpoint=api.endpoint)).read_text(encoding="utf-8")
    except Exception:
        return False
    from . import read_card_metadata
    try:
        return OUR_TAG in (read_card_metadata(text).get("tags") or [])
    except Exception:
        return False


class _HubErrors:
    """Turns huggingface_hub and network failures into one-line FgBgErrors that never show the token."""

    def __init__(self, repo_id: str, endpoint: str):
        self.repo_id, self.endpoint = repo_id, endpoint

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, (FgBgError, KeyboardInterrupt)):
            return False
        import httpx2 as httpx  # the HTTP client huggingface_hub uses
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError
        if isinstance(exc, RepositoryNotFoundError):
            raise FgBgError(f"dataset '{self.repo_id}' not found on the Hub (or it is private: log in with "
                            "`hf auth login` or set HF_TOKEN)") from None
        if isinstance(exc, EntryNotFoundError):
            raise FgBgError(f"'{self.repo_id}' has no README.md: not a dataset published by fgbg-depth") from None
        if isinstance(exc, HfHubHTTPError):
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 401:
                raise FgBgError("the Hub refused the token (401): it is invalid or expired; make a new one at "
                                f"{self.endpoint}/settings/tokens and set HF_TOKEN or run `hf auth login`") from None
            if status == 403:
                raise FgBgError(f"the token may not write to '{self.repo_id}' (403): use a token with write access "
                                "to that namespace, or push to a repository you own") from None
            raise FgBgError(f"the Hub answered HTTP {status} for '{self.repo_id}'; try again later") from None
        if isinstance(exc, (httpx.TransportError, OSError, ConnectionError)):
            raise FgBgError(f"cannot reach the Hub at {self.endpoint} ({type(exc).__name__}); check the network "
                            "and run the same push again: it resumes") from None
        return False


def push(out, repo_id: str, private: bool = False, revision: str | None = None, force: bool = False,
         files_per_commit: int = DEFAULT_FILES_PER_COMMIT, log=print) -> str:
    """Upload OUT to the dataset repository `repo_id`, resuming what a previous push left, then check
    that the remote files match the local ones. Returns the dataset's URL."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants, get_token

    out = Path(out)
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise FgBgError(f"REPO_ID must look like 'user/name', got '{repo_id}'")
    files = local_files(out)
    endpoint = constants.ENDPOINT.rstrip("/")
    if not get_token():
        raise FgBgError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)")
    api = HfApi(endpoint=endpoint)
    with _HubErrors(repo_id, endpoint):
        api.whoami()
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        remote = {f.path: f for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
                  if hasattr(f, "size")}
        strangers = sorted(p for p in remote if p not in HUB_OWN and not _is_ours(p))
        foreign_card = "README.md" in remote and not _remote_card_is_ours(api, repo_id, revision)
        if (strangers or foreign_card) and not force:
            example = strangers[0] if strangers else "README.md (not an fgbg-depth card)"
            raise FgBgError(f"'{repo_id}' already holds files fgbg-depth did not make (e.g. {example}); pass --force "
                            "to replace them, or push to another repository")

        local_paths = {f.path for f in files}
        todo = [f for f in files if not _same(remote.get(f.path), f)]
        stale = sorted(p for p in remote if p not in local_paths and p not in HUB_OWN
                       and (force or _is_ours(p)))
        # the data first, the card last: a reader never sees a card that points at missing shards
        bulk = [f for f in todo if f.path not in ("README.md", "stats.json")]
        final = [f for f in todo if f.path in ("README.md", "stats.json")]
        skipped = len(files) - len(todo)
        log(f"pushing {len(todo)} of {len(files)} files to {repo_id}"
            + (f" ({skipped} already there)" if skipped else ""), file=sys.stderr)
        for i in range(0, len(bulk), files_per_commit):
            group = bulk[i:i + files_per_commit]
            api.create_commit(repo_id, repo_type="dataset", revision=revision,
                              operations=[CommitOperationAdd(f.path, str(f.local)) for f in group],
                              commit_message=f"fgbg-depth: add {len(group)} files ({group[0].path} ...)")
            log(f"  committed {min(i + files_per_commit, len(bulk))}/{len(bulk)} data files", file=sys.stderr)
        if final or stale:
            ops = [CommitOperationAdd(f.path, str(f.local)) for f in final]
            ops += [CommitOperationDelete(p) for p in stale]
            api.create_commit(repo_id, repo_type="dataset", revision=revision, operations=ops,
                              commit_message="fgbg-depth: dataset card and stats")
        after = {f.path: f for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
                 if hasattr(f, "size")}
    wrong = [f.path for f in files if not _same(after.get(f.path), f)]
    extra = [p for p in after if p not in local_paths and p not in HUB_OWN]
    if wrong or extra:
        raise FgBgError(f"after the push the remote differs from '{out}': {len(wrong)} files missing or different "
                        f"(e.g. {(wrong or extra)[0]}), {len(extra)} extra; run the push again")
    url = f"{endpoint}/datasets/{repo_id}" + (f"/tree/{revision}" if revision else "")
    return url


def _same(remote, local: LocalFile) -> bool:
    if remote is None or remote.size != local.size:
        return False
    if getattr(remote, "lfs", None):
        return remote.lfs.sha256 == local.sha256
    return remote.blob_id == _git_blob_oid(local.local)


def download_card(repo_id: str, revision: str | None = None) -> str:
    """The README.md of a Hub dataset repository, as text."""
    from huggingface_hub import constants, hf_hub_download
    with _HubErrors(repo_id, constants.ENDPOINT):
        path = hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision)
    return Path(path).read_text(encoding="utf-8")
