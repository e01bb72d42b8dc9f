"""`fgbg-depth push` and Hub loading, end to end against the test Hub on 127.0.0.1."""

import hashlib
import json
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import run_cli
from hubserver import HubServer

WRITE = "hf_testWRITEtoken0123456789abcdef"
READ = "hf_testREADtoken0123456789abcdef"
REPO = "user/fgbg-depth"


@pytest.fixture(scope="module")
def hub():
    server = HubServer({WRITE: ("user", "write"), READ: ("user", "read")}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("hubdata") / "out"
    res = run_cli("generate", "--out", out, "--placements", "2", "--size", "64", "--shard-rows", "30",
                  "--workers", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    return out


def hub_env(hub, tmp_path, token=WRITE, endpoint=None):
    env = {"HF_ENDPOINT": endpoint or hub.url, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_TOKEN": token or ""}
    return env


def run_python(code, env, timeout=300):
    import os
    full = dict(os.environ, **env)
    if not env.get("HF_TOKEN"):
        full.pop("HF_TOKEN", None)
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=full, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def push(hub_out, env, *extra, repo=REPO):
    return run_cli("push", hub_out, repo, *extra, env=env)


def assert_clean_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("fgbg-depth: error:"), res.stderr
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[-1], lines[-1]
    for secret in (WRITE, READ, "hf_bogus"):
        assert secret not in res.stdout and secret not in res.stderr


ROWS_CODE = """
import hashlib, json, sys
import datasets
datasets.config.USE_PARQUET_EXPORT = False   # no dataset-viewer service here
from datasets import Image, get_dataset_config_names, load_dataset
from fgbg_depth import load_stats

def digest(rows):
    out = []
    for r in rows:
        h = hashlib.sha256()
        for k in sorted(r):
            v = r[k]
            h.update(v["bytes"] if isinstance(v, dict) else repr(v).encode())
        out.append(h.hexdigest())
    return out

def raw(ds):
    for c in ("fg_bg", "bg", "mask", "depth"):
        ds = ds.cast_column(c, Image(decode=False))
    return ds

src = sys.argv[1] if len(sys.argv) > 1 else {repo!r}
result = {{"configs": get_dataset_config_names(src)}}
ds = load_dataset(src)
result["rows"] = {{s: digest(raw(ds[s])) for s in ds}}
stream = load_dataset(src, streaming=True)
result["stream"] = {{s: digest(raw(stream[s])) for s in stream}}
result["stats"] = load_stats(src)
result["sources"] = {{s: len(v) for s, v in load_dataset(src, "sources").items()}}
print(json.dumps(result))
"""


@pytest.mark.slow
def test_push_then_load_from_hub_equals_local(hub, hub_out, tmp_path):
    env = hub_env(hub, tmp_path)
    res = push(hub_out, env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{hub.url}/datasets/{REPO}"
    remote = hub.files(REPO)
    local = {p.relative_to(hub_out).as_posix(): p.read_bytes() for p in hub_out.rglob("*")
             if p.is_file() and ".fgbg-depth" not in p.parts}
    assert {p: hashlib.sha256(b).hexdigest() for p, b in remote.items() if p != ".gitattributes"} == \
        {p: hashlib.sha256(b).hexdigest() for p, b in local.items()}
    assert len([p for p in remote if p.startswith("data/")]) > 3

    from_hub = run_python(ROWS_CODE.format(repo=REPO), env)
    local_env = dict(env, HF_HOME=str(tmp_path / "hf-local"))
    code = ROWS_CODE.format(repo=REPO).replace("sys.argv[1] if len(sys.argv) > 1 else ", "")
    from_folder = run_python(code.replace(repr(REPO), repr(str(hub_out))), local_env)
    assert sorted(from_hub["configs"]) == ["default", "sources"]
    assert from_hub["rows"] == from_folder["rows"] and set(from_hub["rows"]) == {"train", "test"}
    assert from_hub["stream"] == from_hub["rows"]
    assert from_hub["stats"] == json.loads((hub_out / "stats.json").read_text())["channel_stats"]
    assert from_hub["sources"] == {"backgrounds": 8, "foregrounds": 8}

    # pushing again sends nothing: every file is already there
    uploads, commits = len(hub.lfs_uploads()), len(hub.commits())
    res = push(hub_out, env)
    assert res.returncode == 0, res.stderr
    assert (len(hub.lfs_uploads()), len(hub.commits())) == (uploads, commits)
    assert "0 of" in res.stderr


@pytest.mark.slow
def test_streaming_reads_a_small_fraction(hub, tmp_path):
    out = tmp_path / "big"
    res = run_cli("generate", "--out", out, "--placements", "10", "--size", "96", "--shard-rows", "300",
                  "--workers", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    env = hub_env(hub, tmp_path)
    assert push(out, env, repo="user/streamed").returncode == 0
    start = len(hub.log)
    got = run_python("""
        import json, datasets
        datasets.config.USE_PARQUET_EXPORT = False
        from datasets import load_dataset
        rows = list(load_dataset("user/streamed", split="train", streaming=True).take(10))
        print(json.dumps({"n": len(rows), "ids": [r["sample_id"] for r in rows]}))
    """, env)
    assert got["n"] == 10
    read = sum(e["bytes_out"] for e in hub.log[start:] if e["method"] == "GET" and "/data/" in e["path"])
    total = sum(p.stat().st_size for p in (out / "data").glob("*.parquet"))
    assert len(list((out / "data").glob("*.parquet"))) >= 4
    detail = [(e['path'][-30:], e['range'], e['bytes_out']) for e in hub.log[start:] if '/data/' in e['path']]
    assert 0 < read < 0.25 * total, (read, total, detail)


@pytest.mark.slow
def test_killed_push_resumes_without_resending(tmp_path, hub_out):
    server = HubServer({WRITE: ("user", "write")}, commit_delay=0.4).start()
    try:
        env = hub_env(server, tmp_path)
        import os
        proc = subprocess.Popen([sys.executable, "-m", "fgbg_depth", "push", str(hub_out), REPO,
                                 "--files-per-commit", "2"], env=dict(os.environ, **env),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and len(server.commits()) < 2:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first_uploads = list(server.lfs_uploads())
        committed = set(server.files(REPO))
        assert 2 <= len(server.commits()) and "README.md" not in committed  # it really stopped half-way
        server.commit_delay = 0
        res = push(hub_out, env, "--files-per-commit", "2")
        assert res.returncode == 0, res.stderr
        second_uploads = server.lfs_uploads()[len(first_uploads):]
        all_uploads = first_uploads + second_uploads
        assert len(all_uploads) == len(set(all_uploads))  # no object was sent twice
        committed_oids = {hashlib.sha256(b).hexdigest() for p, b in server.files(REPO).items()
                          if p in committed and p.endswith(".parquet")}
        assert not committed_oids & set(second_uploads)  # nothing already committed was re-sent
        local = {p.relative_to(hub_out).as_posix() for p in hub_out.rglob("*")
                 if p.is_file() and ".fgbg-depth" not in p.parts}
        assert set(server.files(REPO)) - {".gitattributes"} == local
    finally:
        server.stop()


def test_missing_token(hub, hub_out, tmp_path):
    assert_clean_error(push(hub_out, hub_env(hub, tmp_path, token=None)), "no Hugging Face token", "HF_TOKEN")


def test_invalid_token_401(hub, hub_out, tmp_path):
    res = push(hub_out, hub_env(hub, tmp_path, token="hf_bogusTOKENvalue000000000000"))
    assert_clean_error(res, "401")
    assert "bogusTOKEN" not in res.stderr


def test_read_only_token_403(hub, hub_out, tmp_path):
    assert_clean_error(push(hub_out, hub_env(hub, tmp_path, token=READ), repo="user/ro-test"), "403")


def test_other_namespace_403(hub, hub_out, tmp_path):
    assert_clean_error(push(hub_out, hub_env(hub, tmp_path), repo="someone-else/data"), "403")


def test_unrelated_repo_refused_unless_forced(hub, hub_out, tmp_path):
    hub.add_file("user/busy", "model.safetensors", b"\0weights")
    hub.add_file("user/busy", "README.md", b"# somebody's model\n")
    env = hub_env(hub, tmp_path)
    assert_clean_error(push(hub_out, env, repo="user/busy"), "did not make", "--force")
    assert set(hub.files("user/busy")) == {".gitattributes", "model.safetensors", "README.md"}
    res = push(hub_out, env, "--force", repo="user/busy")
    assert res.returncode == 0, res.stderr
    assert "model.safetensors" not in hub.files("user/busy")


def test_no_network(hub_out, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = push(hub_out, hub_env(None, tmp_path, endpoint=f"http://127.0.0.1:{port}"))
    assert_clean_error(res, "cannot reach the Hub")


def test_push_refuses_unfinished_folder(hub, tmp_path):
    (tmp_path / "half" / "data").mkdir(parents=True)
    (tmp_path / "half" / "README.md").write_text("---\n---\n")
    (tmp_path / "half" / "data" / "train-00000-of-00002.parquet").write_bytes(b"PAR1")
    assert_clean_error(push(tmp_path / "half", hub_env(hub, tmp_path)), "unfinished run")


def test_load_stats_from_hub_private_repo_needs_token(hub, hub_out, tmp_path):
    env = hub_env(hub, tmp_path)
    assert push(hub_out, env, "--private", repo="user/secret").returncode == 0
    code = """
        import json
        from fgbg_depth import load_stats
        from fgbg_depth.errors import FgBgError
        try:
            print(json.dumps({"ok": sorted(load_stats("user/secret"))}))
        except FgBgError as e:
            print(json.dumps({"error": str(e)}))
    """
    assert run_python(code, env) == {"ok": ["test", "train"]}
    anonymous = run_python(code, hub_env(hub, tmp_path / "anonymous", token=None))
    assert "error" in anonymous, (anonymous, [e for e in hub.log[-5:]])
    assert "not found" in anonymous["error"] and "HF_TOKEN" in anonymous["error"]


@pytest.mark.slow
def test_push_to_a_branch(hub, hub_out, tmp_path):
    env = hub_env(hub, tmp_path)
    res = push(hub_out, env, "--revision", "v2", repo="user/branched")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{hub.url}/datasets/user/branched/tree/v2"
    assert set(hub.files("user/branched", "main")) == {".gitattributes"}
    assert "README.md" in hub.files("user/branched", "v2")
    got = run_python("""
        import json, datasets
        datasets.config.USE_PARQUET_EXPORT = False
        from datasets import load_dataset
        ds = load_dataset("user/branched", revision="v2", split="test")
        print(json.dumps({"n": len(ds)}))
    """, env)
    assert got["n"] == json.loads((hub_out / ".fgbg-depth" / "report.json").read_text())["splits"]["test"]["num_examples"]


# -- a Hub having a bad moment ------------------------------------------------------------------

def remote_matches_local(server, out, repo=REPO):
    local = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*")
             if p.is_file() and ".fgbg-depth" not in p.parts}
    remote = {p: hashlib.sha256(b).hexdigest() for p, b in server.files(repo).items() if p != ".gitattributes"}
    return remote == local


@pytest.fixture
def fresh_hub():
    server = HubServer({WRITE: ("user", "write")}).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_push_rides_out_hub_hiccups(fresh_hub, hub_out, tmp_path):
    hub = fresh_hub
    hub.inject("POST", r"/api/repos/create$", "drop")  # a connection dropped without an answer
    hub.inject("POST", r"/preupload/", 429, times=2, headers={"Retry-After": "1"})
    hub.inject("POST", r"/commit/", 500, times=2)
    started = time.monotonic()
    res = push(hub_out, hub_env(hub, tmp_path), "--files-per-commit", "4")
    assert res.returncode == 0, res.stderr
    assert remote_matches_local(hub, hub_out)
    faulted = [(e["method"], e["path"].rsplit("/", 2)[-2], e["status"]) for e in hub.faulted()]
    assert faulted == [("POST", "repos", "drop"), ("POST", "preupload", 429), ("POST", "preupload", 429),
                       ("POST", "commit", 500), ("POST", "commit", 500)], faulted
    # each faulted call was sent again and then answered
    for kind in ("/api/repos/create", "/preupload/", "/commit/"):
        assert any(kind in e["path"] and e["status"] == 200 for e in hub.log), kind
    assert res.stderr.count("retrying in") >= 3  # ours (create, commit); huggingface_hub says its own
    assert time.monotonic() - started >= 2.0  # Retry-After: 1 was honoured, twice
    assert WRITE not in res.stderr and WRITE not in res.stdout


def test_a_commit_that_landed_but_whose_answer_was_lost_is_not_sent_again(fresh_hub, hub_out, tmp_path):
    hub = fresh_hub
    hub.inject("POST", r"/commit/", "drop", apply=True)  # the first commit lands; its answer never comes
    res = push(hub_out, hub_env(hub, tmp_path), "--files-per-commit", "100")
    assert res.returncode == 0, res.stderr
    assert remote_matches_local(hub, hub_out)
    repo = hub.repos[REPO]
    titles = [c["title"] for c in repo.commits.values()]
    # initial commit, the data (once, although its answer was lost), then the card
    assert len(titles) == 3 and titles[0] == "initial commit" and "card" in titles[-1], titles


@pytest.mark.slow
def test_a_fault_that_persists_ends_in_one_line(fresh_hub, hub_out, tmp_path):
    hub = fresh_hub
    hub.inject("POST", r"/commit/", 503, times=None)
    started = time.monotonic()
    res = push(hub_out, hub_env(hub, tmp_path), "--retries", "2")
    assert time.monotonic() - started < 60
    assert_clean_error(res, "HTTP 503", "commit, 3 times", "try again later", "resumes")
    assert len([e for e in hub.faulted() if "/commit/" in e["path"]]) == 3


def test_a_connection_that_keeps_dropping_ends_in_one_line(fresh_hub, hub_out, tmp_path):
    hub = fresh_hub
    hub.inject("POST", r"/api/repos/create$", "drop", times=None)
    res = push(hub_out, hub_env(hub, tmp_path), "--retries", "1")
    assert_clean_error(res, "cannot reach the Hub", "repository creation, 2 times", "resumes")


def test_token_check_answered_404_says_the_endpoint_is_wrong(fresh_hub, hub_out, tmp_path):
    hub = fresh_hub
    hub.inject("GET", r"/api/whoami-v2$", 404)
    res = push(hub_out, hub_env(hub, tmp_path))
    assert_clean_error(res, "404", "not a Hugging Face Hub", "HF_ENDPOINT")
    assert "try again later" not in res.stderr


def test_other_refusals_say_what_the_hub_said(fresh_hub, hub_out, tmp_path):
    hub = fresh_hub
    hub.inject("POST", r"/commit/", 422)
    res = push(hub_out, hub_env(hub, tmp_path))
    assert_clean_error(res, "HTTP 422", "injected fault")
    assert "try again later" not in res.stderr and "retrying" not in res.stderr
