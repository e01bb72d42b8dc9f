"""One writer per output folder: an flock on OUT/.fgbg-depth/lock.

`generate` holds it exclusively from before it writes or sweeps anything until it is done; `push`
and `verify` hold it shared, so they may run side by side but never while a run writes. The
operating system drops the lock when its process dies, SIGKILL included, so a killed run never
blocks the next one. The file records who holds it (pid, host, command, start), for the message a
refused command prints.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .contract import STATE_DIR, state_path
from .errors import FgBgError

LOCK_NAME = "lock"
_VERBS = {"generate": "written", "push": "pushed", "verify": "verified", "cutout": "written", "accept": "edited"}
WRITERS = ("generate", "cutout", "accept")  # hold the lock exclusively; every other command shares it


def lock_path(out: Path) -> Path:
    return state_path(out, LOCK_NAME)


class FolderLock:
    """`with FolderLock(out, "generate"):` — exclusive for the commands that write (WRITERS), shared for
    anything that only reads the folder. Refused at once (no waiting) with a one-line FgBgError naming the holder."""

    def __init__(self, out, command: str):
        self.out, self.command = Path(out), command
        self.exclusive = command in WRITERS
        self.fd: int | None = None
        self._made: list[Path] = []

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        path = lock_path(self.out)
        for folder in (self.out, path.parent):  # what this lock had to create, removed again if unused
            if not folder.exists():
                self._made.append(folder)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FgBgError(f"cannot create '{path.parent}' ({exc.strerror})") from None
        for _ in range(10):
            fd = self._open(path)
            if fd is None:  # a read-only folder nobody can be writing through this file system
                return
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise FgBgError(self._busy_message(holder)) from None
                raise FgBgError(f"cannot lock '{path}' ({exc.strerror})") from None
            if _same_file(fd, path):  # not a lock file another command removed while we opened it
                self.fd = fd
                self._record()
                return
            os.close(fd)
        raise FgBgError(f"cannot lock '{path}': it keeps being replaced")

    def _open(self, path: Path) -> int | None:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and not self.exclusive:
                try:
                    return os.open(path, os.O_RDONLY)
                except OSError:
                    return None
            raise FgBgError(f"cannot open '{path}' ({exc.strerror})") from None

    def _record(self) -> None:
        info = {"command": self.command, "pid": os.getpid(), "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        data = (json.dumps(info) + "\n").encode()
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)
        except OSError:  # opened read-only: the lock holds all the same, only the note is missing
            pass

    def _busy_message(self, holder: dict) -> str:
        verb = _VERBS.get(holder.get("command"), "used")
        who = ", ".join(p for p in (f"`fgbg-depth {holder['command']}`" if holder.get("command") else "",
                                    f"pid {holder['pid']}" if holder.get("pid") else "",
                                    f"on {holder['host']}" if holder.get("host") else "",
                                    f"since {holder['since']}" if holder.get("since") else "") if p)
        who = f" ({who})" if who else ""
        if self.command in ("generate", "cutout"):
            todo = "wait for it to finish or stop it, then run this command again (a stopped run resumes)"
        else:
            todo = f"wait for it to finish, then run `fgbg-depth {self.command}` again"
        return f"'{self.out}' is being {verb} by another fgbg-depth command{who}; {todo}"

    def release(self) -> None:
        if self.fd is None:
            return
        path = lock_path(self.out)
        try:
            if self._made and _only_the_lock(self.out):  # a run that wrote nothing leaves nothing
                path.unlink(missing_ok=True)
                for folder in reversed(self._made):
                    folder.rmdir()
        except OSError:
            pass
        finally:
            os.close(self.fd)  # the unlink came first: a command waiting on the old file sees it go
            self.fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def _read_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _only_the_lock(out: Path) -> bool:
    entries = list(out.iterdir())
    if [e.name for e in entries] != [STATE_DIR]:
        return False
    return [e.name for e in (out / STATE_DIR).iterdir()] == [LOCK_NAME]
