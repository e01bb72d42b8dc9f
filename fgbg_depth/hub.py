"""The Hugging Face Hub side: push a generated folder (resumable, verified) and read cards back.

The token comes from HF_TOKEN or the saved login (`hf auth login`), through huggingface_hub; this
module never prints, logs or formats it.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .assets import file_sha256
from .contract import STATE_DIR, read_card_metadata, state_path
from .errors import FgBgError
from .lock import FolderLock

OUR_TAG = "fgbg-depth"
HUB_OWN = {".gitattributes"}  # what the Hub puts into every new repository
DEFAULT_FILES_PER_COMMIT = 50
DEFAULT_RETRIES = 5  # per call: about a minute of backoff before a push gives up
TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
FIRST_DELAY_S, MAX_DELAY_S, MAX_RETRY_AFTER_S = 1.0, 30.0, 120.0


@dataclass(frozen=True)
class LocalFile:
    path: str  # path in the repository, POSIX
    local: Path
    size: int
    sha256: str


def _git_blob_oid(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def check_pushable(out: Path) -> None:
    """A finished dataset folder, or a one-line error saying what it is instead (cheap: no hashing)."""
    if not (out / "README.md").is_file() or not list((out / "data").glob("*.parquet")):
        raise FgBgError(f"'{out}' is not a dataset made by `fgbg-depth generate` (no README.md or data/)")
    report = state_path(out, "report.json")
    if not report.is_file():
        raise FgBgError(f"'{out}' holds an unfinished run; run the same `fgbg-depth generate` again first")
    expected = [f"data/{name}" for split in json.loads(report.read_text())["splits"].values() for name in split["files"]]
    missing = [p for p in expected if not (out / p).is_file()]
    if missing:
        raise FgBgError(f"'{out}' lacks {len(missing)} shards (e.g. {missing[0]}); run generate again to finish it")


def local_files(out: Path) -> list[LocalFile]:
    """What a push uploads: the card, stats.json, data/ and sources/; never the run state."""
    check_pushable(out)
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
    """Whether the remote README.md is an fgbg-depth card. A card that cannot be read or parsed is
    not ours; a failure to fetch it (the Hub's hf_hub_download retries its own requests) is raised,
    so a hiccup never passes for a stranger's card."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError
    try:
        text = Path(hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision,
                                    endpoint=api.endpoint)).read_text(encoding="utf-8")
    except EntryNotFoundError:
        return False
    except UnicodeDecodeError:
        return False
    try:
        return OUR_TAG in (read_card_metadata(text).get("tags") or [])
    except Exception:
        return False


def _status(exc: BaseException) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


def _retry_after(exc: BaseException) -> float | None:
    """The seconds a 429 or 503 answer asks the client to wait (Retry-After in seconds), if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = str(headers.get("Retry-After", "")).strip()
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value))) if value else None
    except ValueError:
        return None


class Retrying:
    """Calls a Hub operation again after a transient failure: HTTP 408, 429, 5xx, a dropped or reset
    connection, a timeout. Waits grow exponentially (1, 2, 4 ... s, at most 30 s, each with jitter);
    a Retry-After header is honoured (up to two minutes). After `retries` more attempts the failure
    is raised for `_HubErrors` to turn into one line. A refused connection counts as transient only
    once this push has reached the Hub: a Hub that never answered is not having a hiccup.

    Only the calls huggingface_hub sends without retrying are wrapped (whoami, repo and branch
    creation, the card's YAML check and the commit itself); the pre-upload, LFS and tree-listing
    requests are retried inside huggingface_hub (`http_backoff`) and are not wrapped twice."""

    def __init__(self, retries: int = DEFAULT_RETRIES, log=print, sleep=time.sleep):
        self.retries, self.log, self.sleep = retries, log, sleep
        self.reached = False
        self.gave_up: str | None = None  # "the commit, 6 times": set when a call's retries ran out

    def transient(self, exc: BaseException) -> bool:
        import httpx2 as httpx
        from huggingface_hub.errors import HfHubHTTPError
        if isinstance(exc, HfHubHTTPError):
            return _status(exc) in TRANSIENT_STATUSES
        if isinstance(exc, httpx.ConnectError):
            return self.reached
        return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))

    def call(self, what: str, fn, *args, landed=None, **kwargs):
        """fn(*args, **kwargs), retried; `landed()` is asked before each retry whether the failed
        attempt took effect anyway (a commit whose answer was lost), and if so the call is done."""
        for attempt in range(self.retries + 1):
            try:
                result = fn(*args, **kwargs)
                self.reached = True
                return result
            except Exception as exc:
                if not self.transient(exc):
                    raise
                if attempt == self.retries:
                    self.gave_up = f"{what}, {attempt + 1} times" if attempt else None
                    raise
                self.reached = self.reached or _status(exc) is not None
                backoff = min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** attempt) * random.uniform(0.5, 1.0)
                delay = max(backoff, _retry_after(exc) or 0.0)
                reason = f"HTTP {_status(exc)}" if _status(exc) else type(exc).__name__
                self.log(f"fgbg-depth: {what}: {reason}; retrying in {delay:.1f} s (retry {attempt + 1} of "
                         f"{self.retries})", file=sys.stderr)
                self.sleep(delay)
                if landed is not None and _quietly(landed):
                    return None


def _quietly(check) -> bool:
    try:
        return bool(check())
    except Exception:  # the check itself failed: retry the call, which is safe to repeat
        return False


class _HubErrors:
    """Turns huggingface_hub and network failures into one-line FgBgErrors that never show the token."""

    def __init__(self, repo_id: str, endpoint: str, retrying: Retrying | None = None):
        self.repo_id, self.endpoint, self.retrying = repo_id, endpoint, retrying

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
        gave_up = self.retrying.gave_up if self.retrying else None
        tried = f" ({gave_up})" if gave_up else ""
        if isinstance(exc, HfHubHTTPError):
            status = _status(exc)
            if status == 401:
                raise FgBgError("the Hub refused the token (401): it is invalid or expired; make a new one at "
                                f"{self.endpoint}/settings/tokens and set HF_TOKEN or run `hf auth login`") from None
            if status == 403:
                raise FgBgError(f"the token may not write to '{self.repo_id}' (403): use a token with write access "
                                "to that namespace, or push to a repository you own") from None
            if status in TRANSIENT_STATUSES:
                raise FgBgError(f"the Hub answered HTTP {status} for '{self.repo_id}'{tried}; try again later: "
                                "the same push resumes where it stopped") from None
            said = _scrub(getattr(exc, "server_message", None) or "")
            said = f": {said.splitlines()[0][:160]}" if said.strip() else ""
            raise FgBgError(f"the Hub refused a request for '{self.repo_id}' (HTTP {status}{said})") from None
        if isinstance(exc, (httpx.TransportError, OSError, ConnectionError)):
            raise FgBgError(f"cannot reach the Hub at {self.endpoint} ({type(exc).__name__}"
                            f"{'; ' + gave_up if gave_up else ''}); check the "
                            "network and run the same push again: it resumes") from None
        return False


def _scrub(text: str) -> str:
    """A server's words with the user's token blanked out, should a server ever echo it."""
    from huggingface_hub import get_token
    token = get_token()
    return text.replace(token, "hf_***") if token else text


def _check_token(api, retrying: Retrying) -> None:
    """whoami, with a 404 told for what it is: HF_ENDPOINT is not a Hub (the token is not the problem)."""
    from huggingface_hub.errors import HfHubHTTPError
    try:
        retrying.call("token check", api.whoami)
    except HfHubHTTPError as exc:
        if _status(exc) == 404:
            raise FgBgError(f"{api.endpoint} answered 404 to the token check (/api/whoami-v2): it is not a "
                            "Hugging Face Hub; check HF_ENDPOINT (unset it for huggingface.co)") from None
        raise


def push(out, repo_id: str, private: bool = False, revision: str | None = None, force: bool = False,
         files_per_commit: int = DEFAULT_FILES_PER_COMMIT, retries: int = DEFAULT_RETRIES, log=print) -> str:
    """Upload OUT to the dataset repository `repo_id`, resuming what a previous push left, then check
    that the remote files match the local ones. Returns the dataset's URL. Transient Hub failures
    are retried (see `Retrying`); a folder a run is writing is refused."""
    out = Path(out)
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise FgBgError(f"REPO_ID must look like 'user/name', got '{repo_id}'")
    if retries < 0:
        raise FgBgError("--retries must be 0 or more")
    check_pushable(out)
    with FolderLock(out, "push"):
        return _push(out, repo_id, private, revision, force, files_per_commit, Retrying(retries, log), log)


def _push(out: Path, repo_id: str, private: bool, revision: str | None, force: bool, files_per_commit: int,
          retrying: Retrying, log) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants, get_token

    files = local_files(out)
    endpoint = constants.ENDPOINT.rstrip("/")
    if not get_token():
        raise FgBgError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)")
    api = HfApi(endpoint=endpoint)

    def listing() -> dict:  # paginated GETs that huggingface_hub retries itself
        return {f.path: f for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
                if hasattr(f, "size")}

    def commit(operations, message: str, paths: list[str]) -> None:
        additions = [op for op in operations if isinstance(op, CommitOperationAdd)]
        # uploads first, retried inside huggingface_hub; then the commit alone is retried here
        api.preupload_lfs_files(repo_id, additions=additions, repo_type="dataset", revision=revision)
        by_path = {f.path: f for f in files}
        deleted = [op.path_in_repo for op in operations if isinstance(op, CommitOperationDelete)]

        def landed() -> bool:  # the failed attempt's commit may have gone through: look before resending
            now = {f.path: f for f in api.get_paths_info(repo_id, paths + deleted, repo_type="dataset",
                                                         revision=revision) if hasattr(f, "size")}
            return all(_same(now.get(p), by_path[p]) for p in paths) and not any(p in now for p in deleted)

        retrying.call("commit", api.create_commit, repo_id, repo_type="dataset", revision=revision,
                      operations=operations, commit_message=message, landed=landed)

    with _HubErrors(repo_id, endpoint, retrying):
        _check_token(api, retrying)
        retrying.call("repository creation", api.create_repo, repo_id, repo_type="dataset", private=private,
                      exist_ok=True)
        if revision:
            retrying.call("branch creation", api.create_branch, repo_id, branch=revision, repo_type="dataset",
                          exist_ok=True)
        remote = listing()
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
            commit([CommitOperationAdd(f.path, str(f.local)) for f in group],
                   f"fgbg-depth: add {len(group)} files ({group[0].path} ...)", [f.path for f in group])
            log(f"  committed {min(i + files_per_commit, len(bulk))}/{len(bulk)} data files", file=sys.stderr)
        if final or stale:
            ops = [CommitOperationAdd(f.path, str(f.local)) for f in final]
            ops += [CommitOperationDelete(p) for p in stale]
            commit(ops, "fgbg-depth: dataset card and stats", [f.path for f in final])
        after = listing()
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
