"""The error hierarchy of the seed, plus NotFoundError.

Every SDK exception is mapped to one of these at the adapter edge. Each error says which
provider and operation failed, on which resource, and what to do about it. Messages never
contain secret values: mappers build them from names, never from request bodies.
"""

from __future__ import annotations

import re

#: user:password@ (or token@) inside a URL: never shown in a message
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s\"']+@")


def mask_url_credentials(text: str) -> str:
    """'http://user:pass@host/x' -> 'http://***@host/x' (e.g. in AWS_ENDPOINT_URL)."""
    return _URL_USERINFO.sub(r"\g<scheme>***@", text)


class CloudError(Exception):
    """Base of every error this package raises."""

    default_hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        operation: str | None = None,
        resource: str | None = None,
        hint: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.message = mask_url_credentials(message)
        self.provider = provider
        self.operation = operation
        self.resource = mask_url_credentials(resource) if resource else resource
        self.hint = hint if hint is not None else self.default_hint
        #: whether the retry policy may try the same call again (throttling, 5xx, resets)
        self.retryable = retryable
        super().__init__(str(self))

    def __str__(self) -> str:
        where = " ".join(p for p in (self.provider, self.operation) if p)
        head = f"{where} {self.resource}" if self.resource else where
        text = f"{head}: {self.message}" if head else self.message
        if self.hint:
            text = f"{text}. {self.hint}" if not text.endswith(".") else f"{text} {self.hint}"
        return text

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # keep the keyword fields across pickling (Prefect and process pools pickle errors)
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[CloudError], message: str, state: dict[str, object]) -> CloudError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ProviderNotAvailableError(CloudError):
    """The provider's SDK is not installed."""


class ProviderNotInitializedError(CloudError):
    """The provider is not registered (or failed to build)."""

    default_hint = "Run `specify cloud providers` to see the registered providers"


class CredentialsError(CloudError):
    """Credentials are missing, invalid or expired."""


class NotFoundError(CloudError):
    """The bucket, object, secret, instance or database does not exist."""


class StorageError(CloudError):
    """A storage operation failed."""


class UploadError(StorageError):
    """Writing an object failed."""


class DownloadError(StorageError):
    """Reading an object failed."""


class IntegrityError(StorageError):
    """Bytes did not match the checksum the service (or our sha256 record) gives for them.

    Retryable by default: a damaged transfer is fixed by sending or reading it again from
    a fresh stream (the level that can reopen the source does that)."""

    def __init__(self, message: str, **kw: object) -> None:
        kw.setdefault("retryable", True)
        super().__init__(message, **kw)  # type: ignore[arg-type]


class DeleteError(StorageError):
    """Deleting an object failed."""


class BucketNotFoundError(NotFoundError, StorageError):
    """The bucket/container (for local: the bucket's directory) does not exist.

    Every store raises it, for every operation on a missing bucket; create the bucket
    with `create_bucket()` (`specify cloud mb LOCATION`)."""

    default_hint = "Create the bucket first (create_bucket / `specify cloud mb`), or check its name"


class ObjectNotFoundError(NotFoundError, StorageError):
    """The bucket exists, the object (key, or key at a version) does not."""

    default_hint = "Check the key (list the bucket to see what is there)"


class BucketExistsError(StorageError):
    """create_bucket(exist_ok=False) found the bucket/container already there."""


class DeploymentError(CloudError):
    """Creating, waiting for or destroying a deployment failed."""


class CostAnalysisError(CloudError):
    """Cost data could not be fetched, parsed or compared."""


class ConfigurationError(CloudError):
    """Bad input from the user: a location, option or setting that cannot be used."""


def sdk_missing(provider: str, package: str, extra: str) -> ProviderNotAvailableError:
    """The error for a provider whose SDK import failed."""
    return ProviderNotAvailableError(
        f"the Python package '{package}' is not installed",
        provider=provider,
        operation="import",
        hint=f"Install it with: pip install 'specify-cloud[{extra}]'",
    )


def refine_not_found(
    err: CloudError,
    cls: type[BucketNotFoundError] | type[ObjectNotFoundError],
    hint: str | None = None,
) -> CloudError:
    """err as the more precise cls (same message and fields; hint, when given, replaces
    err's); err unchanged when it is not a NotFoundError or already one of cls."""
    if not isinstance(err, NotFoundError) or isinstance(err, cls):
        return err
    return cls(
        err.message,
        provider=err.provider,
        operation=err.operation,
        resource=err.resource,
        hint=hint or err.hint or None,
        retryable=err.retryable,
    )


class CostInputError(CostAnalysisError, ConfigurationError):
    """Billing data that cannot be read as it is (bad input: exit 2): the message names the
    file, row and column and what to do."""
