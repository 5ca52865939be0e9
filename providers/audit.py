"""The audit log: one JSON line per mutating operation (who, what, when, where, result).

The file is SPECIFY_AUDIT_LOG (default ~/.specify-cloud/audit.jsonl); set it to "off" to
disable. Lines are appended with a single write so concurrent writers do not interleave.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_lock = threading.Lock()
#: json.dumps with options builds an encoder per call; one per process does the same
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


def audit_path() -> Path | None:
    return _audit_path(os.environ.get("SPECIFY_AUDIT_LOG"), os.environ.get("HOME"))


@functools.lru_cache(maxsize=16)
def _audit_path(value: str | None, home: str | None) -> Path | None:
    """(cached per setting: Path.home() per record is measurable at a million objects)"""
    del home  # part of the cache key: Path.home() reads it
    if value is not None and value.strip().lower() in {"", "off", "none", "0"}:
        return None
    return Path(value) if value else Path.home() / ".specify-cloud" / "audit.jsonl"


def _who() -> str:
    return os.environ.get("SPECIFY_AUDIT_USER") or _login_name()


@functools.cache
def _login_name() -> str:
    """The process owner's name, looked up once (the passwd lookup is not free)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def audit(
    operation: str,
    *,
    provider: str,
    where: str | None,
    resource: str | None,
    result: str,
    error: BaseException | None = None,
    duration_s: float | None = None,
    **extra: Any,
) -> None:
    """Append one record. Never raises: auditing must not break the operation it records."""
    path = audit_path()
    if path is None:
        return
    record: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "who": _who(),
        "what": operation,
        "provider": provider,
        "where": where,
        "resource": resource,
        "result": result,
    }
    if duration_s is not None:
        record["duration_ms"] = round(duration_s * 1000, 1)
    if error is not None:
        record["error"] = f"{type(error).__name__}: {error}"
    record.update(extra)
    line = _ENCODER.encode(record) + "\n"
    try:
        with _lock:
            os.write(_fd(path), line.encode())
    except OSError:
        for fd, _ in _open.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        _open.clear()


#: path -> (fd, inode): an open per record (O_CREAT, on a file that many processes
#: append to) costs more than the write; a stat per record finds a moved or removed file
#: (log rotation, a test's temp dir) and reopens it. The inode cannot be reused while it
#: is held open here, so the comparison is exact.
_open: dict[Path, tuple[int, int]] = {}


def _fd(path: Path) -> int:
    held = _open.get(path)
    if held is not None:
        fd, inode = held
        try:
            if os.stat(path).st_ino == inode:
                return fd
        except OSError:
            pass
        del _open[path]
        os.close(fd)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:  # first record: make the directory
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o600)
    _open[path] = (fd, os.fstat(fd).st_ino)
    return fd
