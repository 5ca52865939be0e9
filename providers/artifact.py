"""Deployment artifacts: pack, pick a start command, stage in storage, write the start-up script.

Every provider's `deploy` uses this module, so an artifact behaves the same on every cloud:

    with prepare_artifact(path, run_command) as prepared:        # validate + pack (tar.gz)
        staged = stage_artifact(storage, prepared, deployment_id)  # upload once, signed URL
        user_data = startup_script(staged.url, prepared.run_command, port=port,
                                   deployment_id=deployment_id)

`providers.deployment.instances.deploy_instance` does all three plus find-or-create on a
CloudCompute; a provider whose compute follows the protocol can call just that.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shlex
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from providers.base import CloudStorage, SupportsSignedURLs
from providers.errors import ConfigurationError, NotFoundError, ObjectNotFoundError

# Tag keys and values must be valid GCP labels too (lowercase letters, digits, '_' and '-',
# at most 63, keys starting with a letter): one spelling then works on every cloud.
#: tag (label) carried by every resource a deployment creates; destroy and status find them by it
DEPLOYMENT_TAG = "specify-deployment-id"
#: tag naming the tool, so a person looking at the console knows where a resource came from
MANAGED_BY_TAG = "specify-managed-by"
MANAGED_BY = "specify-cloud"
#: key prefix under which artifacts are uploaded: <ARTIFACT_PREFIX>/<deployment id>/<name>
ARTIFACT_PREFIX = "deployments"  # the same prefix the cloud providers use
ARCHIVE_NAME = "artifact.tar.gz"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
_SKIP = {".git", "__pycache__", ".venv", "node_modules", ".specify"}
# 55 = 63 (a GCE instance name, or a GCP label value) minus the "specify-" of instance names;
# GCE names may not end with '-' either
MAX_DEPLOYMENT_ID = 55
_DEPLOYMENT_ID = re.compile(rf"^[a-z0-9](?:[a-z0-9-]{{0,{MAX_DEPLOYMENT_ID - 2}}}[a-z0-9])?$")


def check_deployment_id(deployment_id: str) -> str:
    """Ids become tags, GCP label values, instance names and key prefixes: keep them to
    what all accept."""
    if not _DEPLOYMENT_ID.match(deployment_id):
        raise ConfigurationError(
            f"deployment id {deployment_id!r} is not allowed",
            operation="deploy",
            resource="id",
            hint=f"Pass --id as 1-{MAX_DEPLOYMENT_ID} lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, e.g. web-2024-05 (instances are "
            "named specify-<id>, at most 63 characters on GCE)",
        )
    return deployment_id


def deployment_tags(deployment_id: str) -> dict[str, str]:
    """The tags every resource of a deployment carries."""
    return {DEPLOYMENT_TAG: deployment_id, MANAGED_BY_TAG: MANAGED_BY}


def artifact_prefix(deployment_id: str) -> str:
    return f"{ARTIFACT_PREFIX}/{deployment_id}/"


# --------------------------------------------------------------------------- run command
def _detect(entries: Iterable[tuple[str, bool]]) -> str | None:
    """Pick a start command from top-level (name, executable) entries, in the documented order:
    one executable, app.py, main.py, one .pyz."""
    items = sorted((n, x) for n, x in entries if n and not n.startswith("."))
    names = {n for n, _ in items}
    executables = [n for n, x in items if x and not n.endswith((".py", ".pyz"))]
    if len(executables) == 1:
        return f"./{shlex.quote(executables[0])}"
    for script in ("app.py", "main.py"):
        if script in names:
            return f"python3 {script}"
    zipapps = [n for n in names if n.endswith(".pyz")]
    if len(zipapps) == 1:
        return f"python3 {shlex.quote(zipapps[0])}"
    return None


def _entries_of_dir(path: Path) -> list[tuple[str, bool]]:
    return [
        (p.name, p.is_file() and os.access(p, os.X_OK))
        for p in path.iterdir()
        if p.is_file() or p.is_dir()
    ]


def _entries_of_archive(path: Path) -> list[tuple[str, bool]]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigurationError(
            f"'{path}' is not a readable tar.gz archive ({exc})",
            operation="deploy",
            resource="artifact",
            hint="Pass a directory, a single file, or a valid .tar.gz",
        ) from exc
    top: list[tuple[str, bool]] = []
    for m in members:
        name = m.name.removeprefix("./")
        if name and "/" not in name.rstrip("/"):
            top.append((name.rstrip("/"), m.isfile() and bool(m.mode & 0o111)))
    return top


def detect_run_command(artifact: Path) -> str | None:
    """The default start command for a file, directory or .tar.gz, or None when unclear."""
    if artifact.is_dir():
        return _detect(_entries_of_dir(artifact))
    if artifact.name.endswith(ARCHIVE_SUFFIXES):
        return _detect(_entries_of_archive(artifact))
    if artifact.name.endswith((".py", ".pyz")):
        return f"python3 {shlex.quote(artifact.name)}"
    if os.access(artifact, os.X_OK):
        return f"./{shlex.quote(artifact.name)}"
    if artifact.name.endswith(".sh"):  # a shell script needs no executable bit
        return f"sh {shlex.quote(artifact.name)}"
    return None


# --------------------------------------------------------------------------- packing
def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if any(p in _SKIP for p in parts) or info.name.endswith(".pyc"):
        return None
    # same content -> same bytes, so the upload of a re-run can be skipped by checksum
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def pack(source: Path, dest: Path) -> Path:
    """Pack a file or a directory's content into a reproducible tar.gz at dest."""
    with (
        dest.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue
                rel = path.relative_to(source).as_posix()
                tar.add(path, arcname=rel, recursive=False, filter=_normalise)
        else:
            tar.add(source, arcname=source.name, recursive=False, filter=_normalise)
    return dest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class PreparedArtifact:
    """An artifact ready to upload: one tar.gz and the command that starts it once unpacked."""

    source: Path
    archive: Path
    run_command: str
    sha256: str
    size: int
    _tmpdir: Path | None = field(default=None, repr=False, compare=False)

    def cleanup(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> PreparedArtifact:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


def prepare_artifact(
    artifact: Path | str, run_command: str | None = None, *, out_dir: Path | None = None
) -> PreparedArtifact:
    """Validate the artifact, choose its start command and pack it (a .tar.gz is used as is).

    ConfigurationError (resource 'artifact' or 'run') for a missing artifact or when no start
    command can be detected. Packing goes to out_dir, or a temp dir removed by cleanup().
    """
    source = Path(artifact).expanduser()
    if not source.exists():
        raise ConfigurationError(
            f"'{artifact}' does not exist",
            operation="deploy",
            resource="artifact",
            hint="Pass an existing file or directory to deploy",
        )
    source = source.resolve()
    if source.is_dir() and not any(source.iterdir()):
        raise ConfigurationError(
            f"directory '{artifact}' is empty",
            operation="deploy",
            resource="artifact",
            hint="Deploy a directory that contains the application",
        )
    command = (run_command or "").strip() or detect_run_command(source)
    if not command:
        raise ConfigurationError(
            f"cannot tell how to start '{source.name}'",
            operation="deploy",
            resource="run",
            hint="Pass --run 'COMMAND' (run inside the unpacked artifact), or include an "
            "executable, app.py, main.py or a .pyz",
        )
    if source.is_file() and source.name.endswith(ARCHIVE_SUFFIXES):
        _entries_of_archive(source)  # a broken archive is bad input, caught before any upload
        archive, tmpdir = source, None
    else:
        tmpdir = Path(tempfile.mkdtemp(prefix="specify-artifact-")) if out_dir is None else None
        target_dir = out_dir if out_dir is not None else tmpdir
        assert target_dir is not None
        target_dir.mkdir(parents=True, exist_ok=True)
        archive = pack(source, target_dir / ARCHIVE_NAME)
    return PreparedArtifact(
        source=source,
        archive=archive,
        run_command=command,
        sha256=sha256_of(archive),
        size=archive.stat().st_size,
        _tmpdir=tmpdir,
    )


# --------------------------------------------------------------------------- staging
@dataclass(frozen=True)
class StagedArtifact:
    """An uploaded artifact: its key, its storage URI and the signed URL an instance fetches."""

    key: str
    uri: str
    url: str = field(repr=False)  # signed: grants read access, so never logged
    uploaded: bool = True


def stage_artifact(
    storage: CloudStorage,
    prepared: PreparedArtifact,
    deployment_id: str,
    *,
    expires_in: int = 24 * 3600,
    url_for: Callable[[str], str] | None = None,
) -> StagedArtifact:
    """Upload the archive under the deployment's prefix unless the same bytes are there already.

    The signed URL lasts a day by default: it must outlive the instance's boot. url_for
    replaces storage.get_url (the local provider hands processes a file:// URL).
    """
    key = f"{artifact_prefix(deployment_id)}{ARCHIVE_NAME}"
    if url_for is None and not isinstance(storage, SupportsSignedURLs):
        raise ConfigurationError(
            f"{storage.uri()} cannot sign URLs, so an instance could not fetch the artifact",
            operation="deploy",
            resource="storage",
            hint="Stage artifacts in a bucket of S3, GCS, Azure Blob or the local store",
        )
    try:
        uploaded = storage.head(key).sha256 != prepared.sha256
    except ObjectNotFoundError:  # a missing bucket is an error, not "upload it"
        uploaded = True
    if uploaded:
        storage.upload(prepared.archive, key, {DEPLOYMENT_TAG: deployment_id})
    if url_for is not None:
        url = url_for(key)
    else:
        assert isinstance(storage, SupportsSignedURLs)  # checked before anything was written
        url = storage.get_url(key, expires_in=expires_in)
    return StagedArtifact(key=key, uri=storage.uri(key), url=url, uploaded=uploaded)


def remove_staged(storage: CloudStorage, deployment_id: str) -> int:
    """Delete every object under the deployment's prefix; returns how many were deleted."""
    try:
        keys = [o.key for o in storage.list_objects(artifact_prefix(deployment_id))]
    except NotFoundError:  # no bucket: nothing was ever staged there
        return 0
    return sum(1 for key in keys if storage.delete(key))


# --------------------------------------------------------------------------- start-up script
def startup_script(
    url: str,
    run_command: str,
    *,
    port: int | None = None,
    deployment_id: str = "",
    workdir: str | None = None,
    detach: bool = True,
) -> str:
    """The bash start-up script (user data) that fetches the artifact by URL and runs it.

    workdir: where to unpack (default /opt/specify/<id>; "." = the current directory).
    detach: run the app in the background with its output in app.log, so cloud-init can
    finish; the local provider passes False to keep the app as the tracked process.
    """
    where = workdir or f"/opt/specify/{deployment_id or 'app'}"
    lines = [
        "#!/bin/bash",
        f"# specify-cloud deployment {deployment_id}".rstrip(),
        "set -euo pipefail",
        f"mkdir -p {shlex.quote(where)} && cd {shlex.quote(where)}",
        "fetch() {",
        '  if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 5 -o "$2" "$1"',
        '  elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"',
        "  else python3 -c 'import sys, urllib.request as u; "
        'u.urlretrieve(sys.argv[1], sys.argv[2])\' "$1" "$2"; fi',
        "}",
        f"fetch {shlex.quote(url)} {ARCHIVE_NAME}",
        "rm -rf app && mkdir app",
        f"tar -xzf {ARCHIVE_NAME} -C app",
        "cd app",
    ]
    if port is not None:
        lines.append(f"export PORT={int(port)}")
    if deployment_id:
        lines.append(f"export SPECIFY_DEPLOYMENT_ID={shlex.quote(deployment_id)}")
    if detach:
        lines.append(f"nohup bash -c {shlex.quote(run_command)} > ../app.log 2>&1 &")
    else:
        lines.append(f"exec bash -c {shlex.quote(run_command)}")
    return "\n".join(lines) + "\n"
