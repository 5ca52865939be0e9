"""Helpers several test areas share: reading what a deployment's start-up script fetches."""

from __future__ import annotations

import io
import shlex
import tarfile
import urllib.request

_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch_url(script: str) -> str:
    """The signed URL on the start-up script's `fetch URL FILE` line."""
    line = next(x for x in script.splitlines() if x.startswith("fetch "))
    return shlex.split(line)[1]


def fetch(url: str) -> bytes:
    """GET url straight from the loopback server (no proxy), as an instance would."""
    with _HTTP.open(url, timeout=10) as resp:
        return bytes(resp.read())


def archive_members(data: bytes) -> dict[str, bytes]:
    """The files of a tar.gz, by name."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
