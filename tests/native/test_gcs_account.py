"""The GCS account without google-cloud-storage (providers/native/gcs_account) and the
google.auth transport over our pools (providers/native/gcs_auth).

Every field the lean account reads from a provider's settings is compared with the
storage.Client the provider builds from the same settings and environment (its API base
URL, project, the credentials its session authorizes with, the CA bundle it trusts).
Token refresh is checked against a local OAuth 2.0 token endpoint that answers as
Google's documents it (tests/fakes/gcp_oauth.py: it checks the jwt-bearer grant and the
JWT's issuer; the signature is checked here against the key's public half), and the
transport against google-auth's transport contract (google.auth.transport.Request /
Response; the cases of google-auth's tests/transport/compliance.py) on a local server.
Untested here: a refresh against Google's real token endpoint, the metadata server and
impersonation (no independent server for them on this machine)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from google.auth import exceptions as auth_exceptions
from google.auth import transport
from google.auth.credentials import AnonymousCredentials
from google.oauth2 import service_account

from providers.gcp import GCPProvider
from providers.gcp.storage import GCSStorage
from providers.native import DataPlaneSettings, byte_path
from providers.native.gcs_account import DEFAULT_API_ENDPOINT, GCSAccount
from providers.native.gcs_auth import PoolRequest
from tests.fakes.gcp_oauth import FakeOAuth, _verify_jwt
from tests.fakes.gcs import FakeGCS

REPO = Path(__file__).resolve().parents[2]
CLOUD = ("https://www.googleapis.com/auth/cloud-platform",)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No emulator, endpoint override, proxy or CA bundle from the session's environment."""
    names = ["STORAGE_EMULATOR_HOST", "API_ENDPOINT_OVERRIDE", "REQUESTS_CA_BUNDLE"]
    names += ["CURL_CA_BUNDLE", "GOOGLE_API_USE_CLIENT_CERTIFICATE", "SPECIFY_DATA_PLANE"]
    names += [n for n in os.environ if n.lower().endswith("_proxy")]
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-env")
    return monkeypatch


def sdk_view(provider: GCPProvider) -> GCSAccount:
    """What the provider's own storage.Client reaches, read off the client."""
    client = provider._storage_client()
    found = GCSAccount.from_client(client)
    assert found is not None
    assert found.base == client._connection.API_BASE_URL
    return found


def assert_same(lean: GCSAccount | None, provider: GCPProvider) -> GCSAccount:
    assert lean is not None
    sdk = sdk_view(provider)
    assert lean == sdk  # base, project, verify
    client = provider._storage_client()
    if lean.anonymous:
        assert isinstance(client._http.credentials, AnonymousCredentials)
    else:  # the very object the SDK session authorizes its requests with
        assert lean.credentials is client._http.credentials
    return lean


# ---------------------------------------------------------------- the account vs the SDK
def test_the_emulator_of_the_environment_is_anonymous(clean_env: pytest.MonkeyPatch) -> None:
    for host in ("http://127.0.0.1:9023", "127.0.0.1:9024"):
        clean_env.setenv("STORAGE_EMULATOR_HOST", host)
        provider = GCPProvider()
        lean = assert_same(GCSAccount.for_provider(provider), provider)
        assert lean.anonymous and lean.base == "http://" + host.removeprefix("http://")
        assert lean.project == "proj-env"


def test_a_service_account_reaches_google(
    clean_env: pytest.MonkeyPatch, sa_info: dict[str, Any]
) -> None:
    provider = GCPProvider(service_account_info=sa_info)
    lean = assert_same(GCSAccount.for_provider(provider), provider)
    assert lean.base == DEFAULT_API_ENDPOINT and lean.project == "proj-env"
    assert lean.credentials.service_account_email == sa_info["client_email"]
    assert sa_info["private_key"] not in repr(lean)


def test_an_endpoint_and_a_ca_bundle_are_the_clients(
    clean_env: pytest.MonkeyPatch, sa_info: dict[str, Any], tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not read until a connection is made")
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    provider = GCPProvider(
        "proj-x", service_account_info=sa_info, storage_endpoint="https://gcs.example.test"
    )
    lean = assert_same(GCSAccount.for_provider(provider), provider)
    assert (lean.base, lean.project, lean.verify) == (
        "https://gcs.example.test", "proj-x", str(bundle),
    )  # fmt: skip


def test_the_endpoint_override_variable_is_read_as_the_sdk_reads_it(
    clean_env: pytest.MonkeyPatch, sa_info: dict[str, Any]
) -> None:
    clean_env.setenv("API_ENDPOINT_OVERRIDE", "https://override.example.test")
    provider = GCPProvider(service_account_info=sa_info)
    assert assert_same(GCSAccount.for_provider(provider), provider).base == (
        "https://override.example.test"
    )


def test_explicit_anonymous_credentials_with_an_endpoint(clean_env: pytest.MonkeyPatch) -> None:
    provider = GCPProvider(
        "proj-y", credentials=AnonymousCredentials(), endpoints={"storage": "http://127.0.0.1:9"}
    )
    lean = assert_same(GCSAccount.for_provider(provider), provider)
    assert lean.anonymous and lean.base == "http://127.0.0.1:9"


def test_where_only_the_sdk_stands_in_for_itself_the_store_builds_it(
    clean_env: pytest.MonkeyPatch, sa_info: dict[str, Any]
) -> None:
    unscoped = service_account.Credentials.from_service_account_info(sa_info)
    assert unscoped.requires_scopes
    other_universe = service_account.Credentials.from_service_account_info(
        {**sa_info, "universe_domain": "example.test"}, scopes=CLOUD
    )
    for provider in (
        GCPProvider("p", credentials=unscoped),
        GCPProvider("p", credentials=other_universe),
        GCPProvider("p", credentials=object()),
    ):
        assert GCSAccount.for_provider(provider) is None
    with pytest.raises(ValueError, match="universe domain"):  # the SDK's own refusal
        GCPProvider("p", credentials=other_universe).get_storage("b1-bucket")
    store = GCPProvider("p", credentials=unscoped).get_storage("b1-bucket")
    assert isinstance(store, GCSStorage)
    assert store.lean_account is None and store._client is not None
    clean_env.setenv("GOOGLE_API_USE_CLIENT_CERTIFICATE", "true")
    assert GCSAccount.for_provider(GCPProvider(service_account_info=sa_info)) is None


def test_a_lean_store_builds_no_client_and_sdk_mode_builds_it_at_once(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    lean = GCPProvider().get_storage("lean-bucket")
    assert isinstance(lean, GCSStorage)
    assert lean.lean_account is not None and lean._client is None
    assert byte_path(lean, DataPlaneSettings("native")) is not None
    assert lean._client is None  # choosing the byte path built nothing either
    assert lean.client is lean.client and lean._client is not None  # built once, on use
    clean_env.setenv("SPECIFY_DATA_PLANE", "sdk")
    sdk = GCPProvider().get_storage("sdk-bucket")
    assert isinstance(sdk, GCSStorage) and sdk.lean_account is None and sdk._client is not None


# ---------------------------------------------------------------- token refresh
def test_a_service_account_token_comes_through_the_pool_transport(
    clean_env: pytest.MonkeyPatch, oauth: FakeOAuth, sa_info: dict[str, Any]
) -> None:
    """The jwt-bearer grant goes to the key's token_uri through PoolRequest; the token
    the endpoint issued is what the lean requests carry."""
    before = len(oauth.requests)
    provider = GCPProvider(service_account_info=sa_info)
    lean = GCSAccount.for_provider(provider)
    assert lean is not None
    headers: dict[str, str] = {}
    lean.authorize("GET", f"{DEFAULT_API_ENDPOINT}/storage/v1/b/x/o", headers)
    assert headers["authorization"] == f"Bearer {oauth.tokens[-1]}"
    (grant,) = oauth.requests[before:]
    form = {k: v[0] for k, v in parse_qs(grant.body.decode()).items()}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert _verify_jwt(form["assertion"], oauth.public_key, sa_info["client_email"])
    again: dict[str, str] = {}
    lean.authorize("GET", f"{DEFAULT_API_ENDPOINT}/storage/v1/b/x/o", again)
    assert again == headers and len(oauth.requests) == before + 1  # valid: not refreshed


def test_a_401_refreshes_and_resends_as_the_sdk_session_does(
    clean_env: pytest.MonkeyPatch, oauth: FakeOAuth, sa_info: dict[str, Any]
) -> None:
    """A token the server no longer takes (401) is refreshed once and the request sent
    again, by the lean request as by google-auth's AuthorizedSession."""
    with FakeGCS() as fake:
        fake.auth = oauth
        fake.objects["k"] = {"kind": "storage#object", "name": "k", "size": "3",
                             "generation": "7", "metadata": {"sha256": "ab"}}  # fmt: skip
        outcomes = []
        for lean_path in (True, False):
            provider = GCPProvider("p", service_account_info=sa_info,
                                   endpoints={"storage": fake.url})  # fmt: skip
            creds = provider.credentials
            stale = creds.token = "revoked-" + ("lean" if lean_path else "sdk")
            creds.expiry = datetime.utcnow() + timedelta(hours=1)  # valid to google-auth
            issued = len(oauth.tokens)
            plane = DataPlaneSettings("native" if lean_path else "sdk")
            store = GCSStorage("bkt", project="p", connect=provider._storage_client,
                               lean_account=GCSAccount.for_provider(provider),
                               data_plane=plane)  # fmt: skip
            start = len(fake.requests)
            head = store.head("k")
            sent = [r.headers.get("authorization") for r in fake.requests[start:]
                    if r.path.endswith("/o/k")]  # fmt: skip
            outcomes.append((head.size, head.version_id, len(sent)))
            fresh = [f"Bearer {t}" for t in oauth.tokens[issued:]]
            assert sent[0] == f"Bearer {stale}" and sent[1] in fresh, (sent, fresh)
            assert (store._client is None) is lean_path
            if lean_path:  # one refresh; the SDK may refresh again for its bucket lookup
                assert len(fresh) == 1
    assert outcomes[0] == outcomes[1] == (3, "7", 2)


def test_no_request_module_is_imported_for_a_refresh(
    oauth: FakeOAuth, sa_info: dict[str, Any], tmp_path: Path
) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(sa_info))
    probe = (
        "import json, sys\n"
        "from providers.gcp import GCPProvider\n"
        "from providers.native.gcs_account import GCSAccount\n"
        f"p = GCPProvider('p', service_account_file={str(key)!r})\n"
        "a = GCSAccount.for_provider(p)\n"
        "h = {}\n"
        "a.authorize('GET', 'https://storage.googleapis.com/storage/v1/b/x/o', h)\n"
        "heavy = [m for m in ('requests', 'google.cloud.storage', 'google.api_core')"
        " if m in sys.modules]\n"
        "print(json.dumps({'auth': h.get('authorization', ''), 'heavy': heavy}))\n"
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout)
    assert seen["heavy"] == [] and seen["auth"] == f"Bearer {oauth.tokens[-1]}"


# ---------------------------------------------------------------- the transport contract
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/basic":
            value = self.headers.get("x-test-header", "value")
            self._answer(200, b"Basic Content", {"X-Test-Header": value})
        elif self.path == "/server_error":
            self._answer(500, b"Error", {})
        elif self.path == "/wait":
            time.sleep(3)
            self._answer(200, b"Waited", {})
        else:
            self._answer(404, b"", {})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(201, base64.b64encode(body), {"Content-Type": "text/plain"})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda *a: None  # type: ignore[method-assign]  # the /wait cut
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_transport_is_a_google_auth_transport(server: str) -> None:
    request = PoolRequest()
    assert isinstance(request, transport.Request)
    response = request(url=f"{server}/basic", method="GET")
    assert isinstance(response, transport.Response)
    assert response.status == 200 and response.data == b"Basic Content"
    assert response.headers["x-test-header"] == "value"
    assert response.headers["X-Test-Header"] == "value"  # any case, as requests' headers


def test_the_transport_sends_headers_and_bodies(server: str) -> None:
    request = PoolRequest()
    got = request(url=f"{server}/basic", method="GET", headers={"x-test-header": "hello world"})
    assert got.headers["x-test-header"] == "hello world"
    posted = request(url=f"{server}/token?x=1", method="POST", body=b"grant=a&b=c",
                     headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert posted.status == 201 and base64.b64decode(posted.data) == b"grant=a&b=c"
    text = request(url=f"{server}/t", method="POST", body="é")
    assert base64.b64decode(text.data) == "é".encode()


def test_an_error_status_is_an_answer_and_no_answer_is_a_transport_error(server: str) -> None:
    request = PoolRequest()
    assert request(url=f"{server}/server_error", method="GET").status == 500
    assert request(url=f"{server}/basic", method="GET", timeout=2).status == 200
    with pytest.raises(auth_exceptions.TransportError):
        request(url=f"{server}/wait", method="GET", timeout=1)
    with pytest.raises(auth_exceptions.TransportError):
        request(url="http://test.invalid", method="GET")  # .invalid never resolves
    with pytest.raises(auth_exceptions.TransportError):
        request(url="http://127.0.0.1:1/", method="GET")
    with pytest.raises(auth_exceptions.TransportError):
        request(url="ftp://127.0.0.1/x", method="GET")
