"""Secrets in one Fernet-encrypted file; the key comes from SPECIFY_SECRETS_KEY.

The whole document (names, versions, values) is one Fernet token, so the file says
nothing without the key. Writes hold an exclusive lock on `<file>.lock` for the
read-modify-write and replace the file atomically (temp file + os.replace).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from providers.base import SecretMetadata, SecretValue
from providers.errors import (
    CloudError,
    ConfigurationError,
    CredentialsError,
    NotFoundError,
    sdk_missing,
)
from providers.operation import ServiceAdapter, cloud_operation, map_generic_error

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

KEY_ENV = "SPECIFY_SECRETS_KEY"
MAKE_KEY_HINT = (
    'Make a key with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
    f" and export it as {KEY_ENV} (keep it safe: the secrets cannot be read without it)"
)
_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")

Doc = dict[str, dict[str, Any]]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FernetSecrets(ServiceAdapter):
    """CloudSecrets over one encrypted file; every set adds a version (1, 2, ...)."""

    provider_name = "local"
    service_name = "secrets"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser().resolve()

    def __repr__(self) -> str:
        return f"FernetSecrets({str(self.path)!r})"

    @property
    def location(self) -> str:
        return str(self.path)

    def map_error(
        self, exc: Exception, *, operation: str, resource: str | None, kind: type[CloudError]
    ) -> CloudError:
        if isinstance(exc, PermissionError):
            return CredentialsError(
                f"cannot access {self.path}",
                provider="local",
                operation=operation,
                resource=resource,
                hint="Check the file's owner and mode",
            )
        return map_generic_error(
            exc, provider="local", operation=operation, resource=resource, kind=kind
        )

    # ------------------------------------------------------------------ file
    def _fernet(self, operation: str) -> Fernet:
        try:
            from cryptography.fernet import Fernet
        except ImportError:  # pragma: no cover - cryptography is a core dependency
            raise sdk_missing("local", "cryptography", "local") from None
        key = os.environ.get(KEY_ENV, "").strip()
        if not key:
            raise CredentialsError(
                f"{KEY_ENV} is not set, so secrets cannot be encrypted",
                provider="local",
                operation=operation,
                resource=str(self.path),
                hint=MAKE_KEY_HINT,
            )
        try:
            return Fernet(key.encode())
        except ValueError:
            # never echo the key itself
            raise CredentialsError(
                f"{KEY_ENV} is not a Fernet key (32 url-safe base64-encoded bytes)",
                provider="local",
                operation=operation,
                hint=MAKE_KEY_HINT,
            ) from None

    def _load(self, operation: str) -> Doc:
        if not self.path.is_file():
            return {}
        fernet = self._fernet(operation)
        from cryptography.fernet import InvalidToken

        try:
            plain = fernet.decrypt(self.path.read_bytes())
        except InvalidToken:
            raise CredentialsError(
                f"{KEY_ENV} does not decrypt {self.path}",
                provider="local",
                operation=operation,
                hint=f"Set {KEY_ENV} to the key the file was written with",
            ) from None
        doc: Doc = json.loads(plain)["secrets"]
        return doc

    def _save(self, doc: Doc, operation: str) -> None:
        token = self._fernet(operation).encrypt(json.dumps({"secrets": doc}).encode())
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(token)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(name, 0o600)
            os.replace(name, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-modify-write across threads and processes."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _check_name(name: str, operation: str) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(
                "a secret name is 1-512 of letters, digits and /_+=.@-",
                operation=operation,
                resource=name if isinstance(name, str) else None,
            )

    @staticmethod
    def _metadata(name: str, entry: dict[str, Any]) -> SecretMetadata:
        versions = entry["versions"]
        return SecretMetadata(
            name=name,
            created=datetime.fromisoformat(entry["created"]),
            updated=datetime.fromisoformat(versions[-1]["created"]),
            versions=len(versions),
            tags=dict(entry.get("tags") or {}),
        )

    # ------------------------------------------------------------------ protocol
    @cloud_operation("set_secret", mutating=True, resource="name")
    def set_secret(self, name: str, value: str) -> SecretMetadata:
        self._check_name(name, "set_secret")
        if not isinstance(value, str):
            raise ConfigurationError(
                "a secret value must be a string", operation="set_secret", resource=name
            )
        self._fernet("set_secret")  # refuse before touching anything
        with self._locked():
            doc = self._load("set_secret")
            now = _now()
            entry = doc.setdefault(name, {"created": now, "versions": [], "tags": {}})
            number = int(entry["versions"][-1]["version"]) + 1 if entry["versions"] else 1
            entry["versions"].append({"version": str(number), "created": now, "value": value})
            self._save(doc, "set_secret")
            return self._metadata(name, entry)

    @cloud_operation("get_secret", resource="name")
    def get_secret(self, name: str, version: str | None = None) -> SecretValue:
        self._check_name(name, "get_secret")
        entry = self._load("get_secret").get(name)
        if entry is None:
            raise NotFoundError(
                f"no secret in {self.path}",
                provider="local",
                operation="get_secret",
                resource=name,
                hint="List the names with list_secrets, or set it first",
            )
        versions = entry["versions"]
        if version in (None, "latest"):
            chosen = versions[-1]
        else:
            matches = [v for v in versions if v["version"] == str(version)]
            if not matches:
                raise NotFoundError(
                    f"no version {version} (versions 1-{len(versions)})",
                    provider="local",
                    operation="get_secret",
                    resource=name,
                )
            chosen = matches[0]
        return SecretValue(
            name, chosen["version"], chosen["value"], datetime.fromisoformat(chosen["created"])
        )

    @cloud_operation("list_secrets", resource=None)
    def list_secrets(self) -> list[SecretMetadata]:
        return [self._metadata(n, e) for n, e in sorted(self._load("list_secrets").items())]

    @cloud_operation("delete_secret", mutating=True, resource="name")
    def delete_secret(self, name: str) -> bool:
        self._check_name(name, "delete_secret")
        if not self.path.is_file():
            return False
        with self._locked():
            doc = self._load("delete_secret")
            if doc.pop(name, None) is None:
                return False
            self._save(doc, "delete_secret")
            return True
