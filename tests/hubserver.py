"""A small Hub-compatible HTTP server for the tests, on 127.0.0.1 only.

It implements what `huggingface_hub` (with HF_HUB_DISABLE_XET=1) and `datasets` call to push, list,
download and stream a dataset repository, to download a model repository (`add_model`), and to read a
dataset someone else published (`add_dataset`: image files and Parquet as LFS objects, private or gated
repositories, other branches): whoami, repo create and info, refs and branches, preupload,
the Git LFS batch API with basic uploads and verify, ndjson commits, tree and paths-info listings,
resolve with HEAD and Range GETs, and validate-yaml. State lives in memory. Every request is logged
(method, path, status, bytes in and out) so tests can prove what was sent and read. `inject` makes
chosen requests fail (an HTTP status, or a connection dropped without an answer), as a Hub having a
bad moment would.

    server = HubServer(tokens={"hf_w": ("user", "write")}).start()
    os.environ["HF_ENDPOINT"] = server.url
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.arrow filter=lfs diff=lfs merge=lfs -text\n"
LFS_THRESHOLD = 10 * 1024 * 1024
LFS_SUFFIXES = (".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".webp", ".zip", ".tar", ".gz")


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class Repo:
    def __init__(self, repo_id: str, private: bool):
        self.id = repo_id
        self.private = private
        self.created = now_iso()
        self.commits: dict[str, dict] = {}  # sha -> {"files": {path: entry}, "title", "date", "parent"}
        self.branches: dict[str, str] = {}
        self.gated: str | bool = False  # "auto" or "manual": files other than the card need access granted
        self.granted: set[str] = set()  # users whose access request was accepted

    def tree(self, rev: str) -> tuple[str, dict]:
        sha = self.branches.get(rev, rev if rev in self.commits else None)
        if sha is None:
            raise HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return sha, self.commits[sha]["files"]

    def commit(self, branch: str, files: dict, title: str, parent: str | None) -> str:
        sha = hashlib.sha1(f"{self.id}{branch}{time.time_ns()}{len(self.commits)}".encode()).hexdigest()
        self.commits[sha] = {"files": files, "title": title, "date": now_iso(), "parent": parent}
        self.branches[branch] = sha
        return sha


class HubServer:
    def __init__(self, tokens: dict[str, tuple[str, str]], commit_delay: float = 0.0):
        self.tokens = tokens  # token -> (user name, "read" | "write")
        self.commit_delay = commit_delay
        self.repos: dict[str, Repo] = {}  # datasets
        self.models: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.log: list[dict] = []
        self.faults: list[dict] = []
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "HubServer":
        hub = self

        class Handler(_Handler):
            server_state = hub

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- helpers for tests -----------------------------------------------------------------------
    def inject(self, method: str, path: str, fault, times: int | None = 1, headers: dict | None = None,
               apply: bool = False) -> None:
        """The next `times` requests (None: all) whose method matches and whose path contains the
        regex `path` get `fault`: an HTTP status code (with `headers`, e.g. Retry-After), or "drop" to
        close the connection without a word. With `apply` the request is carried out first and only
        its answer is lost (a commit that lands while the client hears nothing)."""
        with self.lock:
            self.faults.append({"method": method, "path": re.compile(path), "fault": fault, "left": times,
                                "headers": headers or {}, "apply": apply})

    def faulted(self) -> list[dict]:
        return [e for e in self.log if e.get("fault")]

    def lfs_uploads(self) -> list[str]:
        return [e["path"].rsplit("/", 1)[-1] for e in self.log if e["method"] == "PUT" and e["status"] == 200]

    def commits(self) -> list[dict]:
        return [e for e in self.log if e["method"] == "POST" and "/commit/" in e["path"] and e["status"] == 200]

    def files(self, repo_id: str, rev: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        _, files = repo.tree(rev)
        return {p: self.content(e) for p, e in files.items()}

    def content(self, entry: dict) -> bytes:
        return self.lfs[entry["lfs"]["oid"]] if entry.get("lfs") else entry["content"]

    def add_file(self, repo_id: str, path: str, data: bytes, private: bool = False) -> None:
        """Put a file into a repository directly (creating it), as if someone else had pushed it."""
        with self.lock:
            repo = self.repos.get(repo_id) or self._create(repo_id, private)
            sha, files = repo.tree("main")
            files = dict(files)
            files[path] = {"oid": git_blob_oid(data), "size": len(data), "content": data, "lfs": None}
            repo.commit("main", files, f"add {path}", sha)

    def add_model(self, repo_id: str, files: dict[str, bytes], private: bool = False) -> str:
        """A model repository holding `files` (safetensors and other binaries as LFS objects, as the
        Hub keeps them); returns the commit sha of main. Adding again makes a new commit."""
        with self.lock:
            repo = self.models.get(repo_id)
            if repo is None:
                repo = self.models[repo_id] = Repo(repo_id, private)
                repo.commit("main", {".gitattributes": {"oid": git_blob_oid(GITATTRIBUTES), "size": len(GITATTRIBUTES),
                                                         "content": GITATTRIBUTES, "lfs": None}}, "initial commit", None)
            parent, tree = repo.tree("main")
            tree = dict(tree)
            for path, data in files.items():
                if path.endswith((".safetensors", ".bin", ".npz", ".onnx")):
                    oid = hashlib.sha256(data).hexdigest()
                    self.lfs[oid] = data
                    pointer = lfs_pointer(oid, len(data))
                    tree[path] = {"oid": git_blob_oid(pointer), "size": len(data), "content": None,
                                  "lfs": {"oid": oid, "size": len(data), "pointerSize": len(pointer)}}
                else:
                    tree[path] = {"oid": git_blob_oid(data), "size": len(data), "content": data, "lfs": None}
            return repo.commit("main", tree, "add model files", parent)

    def add_dataset(self, repo_id: str, files: dict[str, bytes], private: bool = False, card: str | None = None,
                    gated: str | bool = False, granted: tuple[str, ...] = (), branch: str = "main") -> str:
        """A dataset repository published by someone else, holding `files` (images, Parquet and other
        binaries as LFS objects, as the Hub keeps them) and `card` as README.md, on `branch` (made from
        main when new); returns that branch's new commit sha. `gated` ("auto"): only the card and
        .gitattributes can be downloaded without access, which `granted` users have."""
        with self.lock:
            repo = self.repos.get(repo_id) or self._create(repo_id, private)
            repo.private, repo.gated, repo.granted = private, gated, set(granted)
            parent, tree = repo.tree(branch if branch in repo.branches else "main")
            tree = dict(tree)
            if card is not None:
                files = {**files, "README.md": card.encode()}
            for path, data in files.items():
                tree[path] = self._stored(data, lfs=path.endswith(LFS_SUFFIXES) or b"\0" in data[:8000])
            return repo.commit(branch, tree, "add dataset files", parent)

    def _stored(self, data: bytes, lfs: bool) -> dict:
        if not lfs:
            return {"oid": git_blob_oid(data), "size": len(data), "content": data, "lfs": None}
        oid = hashlib.sha256(data).hexdigest()
        self.lfs[oid] = data
        pointer = lfs_pointer(oid, len(data))
        return {"oid": git_blob_oid(pointer), "size": len(data), "content": None,
                "lfs": {"oid": oid, "size": len(data), "pointerSize": len(pointer)}}

    def _create(self, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_id, private)
        repo.commit("main", {".gitattributes": {"oid": git_blob_oid(GITATTRIBUTES), "size": len(GITATTRIBUTES),
                                                 "content": GITATTRIBUTES, "lfs": None}}, "initial commit", None)
        self.repos[repo_id] = repo
        return repo


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: HubServer

    def log_message(self, *args):
        pass

    # -- plumbing --------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head_only: bool = False):
        if getattr(self, "_silent", False):
            return len(body)
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, str(v))
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head_only or self.command == "HEAD":  # a HEAD answer carries headers only
            return 0
        if body:
            self.wfile.write(body)
        return len(body)

    def _json(self, status: int, obj, headers: dict | None = None) -> int:
        return self._send(status, json.dumps(obj).encode(), headers)

    def _user(self, required: str | None = None) -> str | None:
        """The token's user; `required` = "read" | "write" raises 401/403 as the Hub does."""
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        found = self.server_state.tokens.get(token) if token else None
        if required and found is None:
            raise HttpError(401, "Invalid username or password." if token else "Unauthorized: no token")
        if required == "write" and found[1] != "write":
            raise HttpError(403, "You don't have the rights to write with this token (read-only).")
        return found[0] if found else None

    def _repo(self, ns: str, name: str, write: bool = False) -> Repo:
        user = self._user("write" if write else None)
        held = self.server_state.models if getattr(self, "_kind", "dataset") == "model" else self.server_state.repos
        repo = held.get(f"{ns}/{name}")
        if repo is None or (repo.private and user != ns):
            raise HttpError(404 if user else 401, "Repository Not Found", "RepoNotFound")
        if write and user != ns:
            raise HttpError(403, f"You don't have the rights to write to {ns}/{name}")
        return repo

    def _dispatch(self, method: str):
        st = self.server_state
        raw = urlsplit(self.path)
        segs = [unquote(s) for s in raw.path.split("/")[1:]]
        query = parse_qs(raw.query)
        body = self._body() if method in ("POST", "PUT") else b""
        entry = {"method": method, "path": raw.path, "status": None, "bytes_in": len(body), "bytes_out": 0,
                 "range": self.headers.get("Range")}
        fault = self._take_fault(method, raw.path)
        if fault is not None:
            entry["fault"] = True
            if fault["apply"]:  # carried out, its answer swallowed
                self._silent = True
                try:
                    with st.lock:
                        self._route(method, segs, query, body, dict(entry))
                except HttpError:
                    pass
                finally:
                    self._silent = False
            if fault["fault"] == "drop":
                self.close_connection = True
                entry.update(status="drop")
            else:
                status = int(fault["fault"])
                entry.update(status=status, bytes_out=self._json(status, {"error": "injected fault"},
                                                                 {"X-Error-Message": "injected fault",
                                                                  **fault["headers"]}))
            st.log.append(entry)
            return
        try:
            with st.lock:
                status, sent = self._route(method, segs, query, body, entry)
        except HttpError as e:
            headers = {"X-Error-Message": e.message}
            if e.code:
                headers["X-Error-Code"] = e.code
            status, sent = e.status, self._json(e.status, {"error": e.message}, headers)
        except Exception as e:  # a bug in this test server: make it visible
            status, sent = 500, self._json(500, {"error": f"test hub: {type(e).__name__}: {e}"})
        entry.update(status=status, bytes_out=sent)
        st.log.append(entry)

    def _take_fault(self, method: str, path: str) -> dict | None:
        st = self.server_state
        with st.lock:
            for fault in st.faults:
                if fault["method"] == method and fault["path"].search(path) and fault["left"] != 0:
                    if fault["left"] is not None:
                        fault["left"] -= 1
                    return fault
        return None

    do_GET = lambda self: self._dispatch("GET")  # noqa: E731
    do_HEAD = lambda self: self._dispatch("HEAD")  # noqa: E731
    do_POST = lambda self: self._dispatch("POST")  # noqa: E731
    do_PUT = lambda self: self._dispatch("PUT")  # noqa: E731

    # -- routes ----------------------------------------------------------------------------------
    def _route(self, method, segs, query, body, entry):
        st = self.server_state
        base = st.url
        if segs[:2] == ["api", "whoami-v2"]:
            user = self._user("read")
            role = st.tokens[self.headers["Authorization"][7:]][1]
            return 200, self._json(200, {"type": "user", "name": user, "orgs": [],
                                         "auth": {"type": "access_token", "accessToken": {"role": role}}})
        if segs[:3] == ["api", "repos", "create"] and method == "POST":
            user = self._user("write")
            data = json.loads(body or b"{}")
            ns = data.get("organization") or user
            repo_id = f"{ns}/{data['name']}"
            if data.get("type") != "dataset":
                raise HttpError(400, "this test hub only holds datasets")
            if ns != user:
                raise HttpError(403, f"You don't have the rights to create a dataset under the namespace {ns}")
            if repo_id in st.repos:
                return 409, self._json(409, {"error": "You already created this dataset repo",
                                             "url": f"{base}/datasets/{repo_id}"})
            st._create(repo_id, bool(data.get("private")) or data.get("visibility") == "private")
            return 200, self._json(200, {"url": f"{base}/datasets/{repo_id}", "name": repo_id})
        if segs[:2] == ["api", "validate-yaml"] and method == "POST":
            content = json.loads(body).get("content", "")
            try:
                if content.startswith("---"):
                    yaml.safe_load(content[3:content.find("\n---", 3)])
            except yaml.YAMLError as e:
                raise HttpError(400, f"Invalid YAML: {e}")
            return 200, self._json(200, {"errors": [], "warnings": []})
        self._kind = "dataset"
        if segs[:2] == ["api", "datasets"] and len(segs) >= 4:
            return self._api_dataset(method, segs[2], segs[3], segs[4:], query, body, entry)
        if segs[:2] == ["api", "models"] and len(segs) >= 4 and method in ("GET", "HEAD"):
            self._kind = "model"  # read-only: info, refs, tree and paths-info of a model repository
            return self._api_dataset(method, segs[2], segs[3], segs[4:], query, body, entry)
        if len(segs) >= 5 and segs[2] == "resolve" and segs[0] not in ("datasets", "api", "lfs"):
            self._kind = "model"
            return self._resolve(method, segs[0], segs[1], segs[3], "/".join(segs[4:]))
        if segs[:1] == ["datasets"] and len(segs) >= 3 and segs[2].endswith(".git"):
            return self._lfs_batch(segs[1], segs[2][:-4], body)
        if segs[:1] == ["datasets"] and len(segs) >= 6 and segs[3] == "resolve":
            return self._resolve(method, segs[1], segs[2], segs[4], "/".join(segs[5:]))
        if segs[:2] == ["lfs", "upload"] and method == "PUT":
            oid = segs[2]
            if hashlib.sha256(body).hexdigest() != oid:
                raise HttpError(400, "sha256 mismatch")
            st.lfs[oid] = body
            return 200, self._send(200, b"", {"ETag": f'"{oid}"'})
        if segs[:2] == ["lfs", "verify"] and method == "POST":
            data = json.loads(body)
            if data.get("oid") not in st.lfs:
                raise HttpError(404, "object not found")
            return 200, self._json(200, {"success": True})
        raise HttpError(404, f"test hub: no route for {method} {'/'.join(segs)}")

    def _api_dataset(self, method, ns, name, rest, query, body, entry):
        if not rest or rest[0] == "revision":
            repo = self._repo(ns, name)
            sha, files = repo.tree(rest[1] if rest else "main")
            return 200, self._json(200, {
                "_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24], "id": repo.id, "author": ns, "sha": sha,
                "private": repo.private, "gated": repo.gated, "disabled": False, "downloads": 0, "likes": 0,
                "tags": [], "createdAt": repo.created, "lastModified": repo.commits[sha]["date"],
                "siblings": [{"rfilename": p} for p in sorted(files)], "cardData": self._card_data(files)})
        if rest[0] == "refs":
            repo = self._repo(ns, name)
            return 200, self._json(200, {"branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s}
                                                      for b, s in repo.branches.items()],
                                         "tags": [], "converts": []})
        if rest[0] == "branch" and method == "POST":
            repo = self._repo(ns, name, write=True)
            branch = rest[1]
            if branch in repo.branches:
                raise HttpError(409, f"Reference already exists: refs/heads/{branch}")
            start = (json.loads(body or b"{}") or {}).get("startingPoint") or "main"
            repo.branches[branch] = repo.tree(start)[0]
            return 200, self._json(200, {})
        if rest[0] == "preupload" and method == "POST":
            self._repo(ns, name, write=True).tree(rest[1])
            files = json.loads(body)["files"]
            out = []
            for f in files:
                sample = base64.b64decode(f["sample"])
                lfs = f["size"] >= LFS_THRESHOLD or b"\0" in sample or f["path"].endswith(".parquet")
                out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False})
            return 200, self._json(200, {"files": out, "commitOid": self._repo(ns, name).tree(rest[1])[0]})
        if rest[0] == "commit" and method == "POST":
            return self._commit(self._repo(ns, name, write=True), rest[1], body, entry)
        if rest[0] == "tree":
            repo = self._repo(ns, name)
            sha, files = repo.tree(rest[1])
            path = "/".join(rest[2:]).strip("/")
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            expand = query.get("expand", ["false"])[0].lower() == "true"
            entries = self._list(repo, sha, files, path, recursive, expand)
            if path and not entries and path not in files:
                raise HttpError(404, f"{path} does not exist", "EntryNotFound")
            return 200, self._json(200, entries)
        if rest[0] == "paths-info" and method == "POST":
            repo = self._repo(ns, name)
            sha, files = repo.tree(rest[1])
            form = parse_qs(body.decode())
            wanted = form.get("paths", [])
            expand = form.get("expand", ["False"])[0].lower() == "true"
            out = []
            for p in wanted:
                p = p.strip("/")
                if p in files:
                    out.append(self._file_entry(repo, sha, p, files[p], expand))
                elif any(f.startswith(p + "/") for f in files):
                    out.append(self._dir_entry(p))
            return 200, self._json(200, out)
        raise HttpError(404, f"test hub: no dataset route {'/'.join(rest)}")

    def _card_data(self, files):
        entry = files.get("README.md")
        if not entry:
            return None
        text = self.server_state.content(entry).decode("utf8", "replace")
        if not text.startswith("---"):
            return None
        try:
            return yaml.safe_load(text[3:text.find("\n---", 3)])
        except yaml.YAMLError:
            return None

    def _file_entry(self, repo, sha, path, e, expand):
        out = {"type": "file", "oid": e["oid"], "size": e["size"], "path": path}
        if e.get("lfs"):
            out["lfs"] = {"oid": e["lfs"]["oid"], "size": e["lfs"]["size"], "pointerSize": e["lfs"]["pointerSize"]}
        if expand:
            out["lastCommit"] = {"id": sha, "title": repo.commits[sha]["title"], "date": repo.commits[sha]["date"]}
        return out

    @staticmethod
    def _dir_entry(path):
        return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}

    def _list(self, repo, sha, files, path, recursive, expand):
        prefix = path + "/" if path else ""
        out, dirs = [], set()
        for p in sorted(files):
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):]
            parts = rest.split("/")
            for i in range(1, len(parts) if recursive else min(2, len(parts))):
                dirs.add(prefix + "/".join(parts[:i]))
            if recursive or len(parts) == 1:
                out.append(self._file_entry(repo, sha, p, files[p], expand))
        return [self._dir_entry(d) for d in sorted(dirs)] + out

    def _commit(self, repo, rev, body, entry):
        st = self.server_state
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next((x["value"] for x in lines if x["key"] == "header"), {})
        parent, files = repo.tree(rev)
        files = copy.copy(files)
        for item in lines:
            key, v = item["key"], item["value"]
            if key == "file":
                data = base64.b64decode(v["content"])
                files[v["path"]] = {"oid": git_blob_oid(data), "size": len(data), "content": data, "lfs": None}
            elif key == "lfsFile":
                if v["oid"] not in st.lfs:
                    raise HttpError(400, f"LFS object {v['oid']} was never uploaded")
                size = len(st.lfs[v["oid"]])
                pointer = lfs_pointer(v["oid"], size)
                files[v["path"]] = {"oid": git_blob_oid(pointer), "size": size, "content": None,
                                    "lfs": {"oid": v["oid"], "size": size, "pointerSize": len(pointer)}}
            elif key == "deletedFile":
                files.pop(v["path"], None)
            elif key == "deletedFolder":
                for p in [p for p in files if p.startswith(v["path"].rstrip("/") + "/")]:
                    files.pop(p)
        if st.commit_delay:
            time.sleep(st.commit_delay)
        sha = repo.commit(rev, files, header.get("summary", ""), parent)
        entry["files"] = sum(1 for x in lines if x["key"] != "header")
        return 200, self._json(200, {"success": True, "commitOid": sha, "hookOutput": "",
                                     "commitUrl": f"{st.url}/datasets/{repo.id}/commit/{sha}"})

    def _lfs_batch(self, ns, name, body):
        st = self.server_state
        self._repo(ns, name, write=True)
        data = json.loads(body)
        objects = []
        for obj in data["objects"]:
            if obj["oid"] in st.lfs and len(st.lfs[obj["oid"]]) == obj["size"]:
                objects.append({"oid": obj["oid"], "size": obj["size"]})  # already stored: nothing to send
            else:
                objects.append({"oid": obj["oid"], "size": obj["size"], "authenticated": True, "actions": {
                    "upload": {"href": f"{st.url}/lfs/upload/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{st.url}/lfs/verify", "header": {}}}})
        return 200, self._json(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                               {"Content-Type": "application/vnd.git-lfs+json"})

    def _resolve(self, method, ns, name, rev, path):
        repo = self._repo(ns, name)
        sha, files = repo.tree(rev)
        if repo.gated and path not in ("README.md", ".gitattributes"):
            user = self._user()
            if user not in repo.granted:
                raise HttpError(403 if user else 401, f"Access to dataset {repo.id} is restricted. You must have "
                                "access to it and be authenticated to access it. Please log in.", "GatedRepo")
        e = files.get(path)
        if e is None:
            raise HttpError(404, f"{path} not found", "EntryNotFound")
        data = self.server_state.content(e)
        etag = e["lfs"]["oid"] if e.get("lfs") else e["oid"]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if e.get("lfs"):
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng or "")
        if m and method == "GET":
            start, end = m.groups()
            if start == "":
                start, end = max(0, len(data) - int(end)), len(data) - 1
            else:
                start, end = int(start), min(int(end) if end else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return 416, self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            chunk = data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return 206, self._send(206, chunk, headers)
        headers["Content-Length"] = str(len(data))
        return 200, self._send(200, data, headers, head_only=(method == "HEAD"))
