"""providers/native/sigv4.py against AWS's published SigV4 test suite (vendored, see
tests/native/vectors/sigv4/PROVENANCE.md) and against botocore's own S3SigV4Auth."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from providers.native.sigv4 import (
    EMPTY_SHA256,
    Credentials,
    S3Signer,
    canonical_request,
    signing_key,
    string_to_sign,
)

SUITE = Path(__file__).parent / "vectors" / "sigv4"
CASES = sorted(p.name for p in SUITE.iterdir() if (p / "context.json").is_file())


Pairs = list[tuple[str, str]]


def _parse_request(text: str) -> tuple[str, str, Pairs, Pairs, bytes]:
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, rest = lines[0].split(" ", 1)
    target = rest.rsplit(" ", 1)[0]
    path, _, qs = target.partition("?")
    query = []
    for part in qs.split("&") if qs else []:
        k, _, v = part.partition("=")
        query.append((unquote(k), unquote(v)))
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[:1] in (" ", "\t") and headers:  # a folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        headers.append((name, value))
    return method, unquote(path), query, headers, body.encode()


def test_the_suite_is_vendored_whole() -> None:
    assert len(CASES) >= 30
    assert "get-vanilla-with-session-token" in CASES


@pytest.mark.parametrize("case", CASES)
def test_published_case(case: str) -> None:
    folder = SUITE / case
    context = json.loads((folder / "context.json").read_text())
    method, path, query, headers, body = _parse_request((folder / "request.txt").read_text())
    stamp = datetime.strptime(context["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    date = stamp.strftime("%Y%m%dT%H%M%SZ")
    creds = context["credentials"]
    payload = hashlib.sha256(body).hexdigest()
    to_sign = [*list(headers), ("X-Amz-Date", date)]
    if context.get("sign_body"):
        to_sign.append(("x-amz-content-sha256", payload))
    if creds.get("token") and not context.get("omit_session_token"):
        to_sign.append(("X-Amz-Security-Token", creds["token"]))
    request, signed = canonical_request(
        method, path, query, to_sign, payload, normalize=bool(context["normalize"])
    )
    assert request == (folder / "header-canonical-request.txt").read_text()
    scope = f"{date[:8]}/{context['region']}/{context['service']}/aws4_request"
    sts = string_to_sign(date, scope, request)
    assert sts == (folder / "header-string-to-sign.txt").read_text()
    key = signing_key(creds["secret_access_key"], date[:8], context["region"], context["service"])
    import hmac

    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    published = [
        line.split(":", 1)[1]
        for line in (folder / "header-signed-request.txt").read_text().split("\n")
        if line.startswith("Authorization:")
    ]
    assert published == [
        f"AWS4-HMAC-SHA256 Credential={creds['access_key_id']}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    ]


# -- against botocore's S3SigV4Auth --------------------------------------------------
AWKWARD = ["a b", "ünï/cödé", "plus+sign", "eq=ual", "tilde~", "per%cent", "semi;colon",
           "amp&ersand", "q?mark", "star*", "dollar$", "brackets[]", "hash#", "a//b/./c",
           "quote'\"", "comma,", "at@", "colon:", "emoji😀", "tab\tkey"]  # fmt: skip


def _wire(path: str, query: list[tuple[str, str]]) -> str:
    """The request target as both signers see it on the wire: the path encoded once,
    the query SigV4-encoded (botocore signs the URL's query as it stands)."""
    qs = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    return quote(path, safe="/-_.~") + (f"?{qs}" if qs else "")


def _botocore(
    method: str, host: str, target: str, headers: dict[str, str], body: bytes, creds: Credentials
) -> dict[str, str]:
    """botocore's own S3 signature of the request (its clock: we sign at its x-amz-date)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCreds

    request = AWSRequest(method=method, url=f"http://{host}{target}", data=body, headers=headers)
    boto_creds = BotoCreds(creds.access_key, creds.secret_key, creds.token)
    S3SigV4Auth(boto_creds, "s3", "eu-west-3").add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.parametrize("seed", range(40))
def test_matches_botocore_over_awkward_requests(seed: int) -> None:
    rng = random.Random(seed)
    key = "/".join(rng.sample(AWKWARD, rng.randint(1, 3)))
    path = f"/bucket-{seed}/{key}"
    query = [(rng.choice(["prefix", "start-after", "x y", "ü", "list-type"]),
              rng.choice([*AWKWARD, "", "2"])) for _ in range(rng.randint(0, 3))]  # fmt: skip
    token = "FwoGZXIvYXdzE+/=token" if seed % 2 else None
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    method = rng.choice(["GET", "HEAD", "PUT"])
    body = rng.randbytes(rng.randint(1, 300)) if method == "PUT" else b""
    payload = hashlib.sha256(body).hexdigest()
    extra = {"x-amz-meta-sha256": "ab  cd ", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}
    extra = extra if body else {}
    extra["User-Agent"] = "specify/1 (signed by neither)"
    host = "127.0.0.1:9000" if seed % 3 else "bucket.s3.eu-west-3.amazonaws.com"
    target = _wire(path, query)
    theirs = _botocore(method, host, target, {"Host": host, **extra}, body, creds)
    when = datetime.strptime(theirs["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = S3Signer(creds, "eu-west-3").sign(
        method, host, path, query, extra, payload_hash=payload, now=when
    )
    ours = {k.lower(): v for k, v in ours.items()}
    assert ours["x-amz-content-sha256"] == theirs["x-amz-content-sha256"] == payload
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token") == token
    assert ours["authorization"] == theirs["authorization"]


def test_a_wrong_secret_changes_the_signature() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a = S3Signer(Credentials("AK", "secret"), "us-east-1").sign("GET", "h", "/b/k", now=when)
    b = S3Signer(Credentials("AK", "secreT"), "us-east-1").sign("GET", "h", "/b/k", now=when)
    assert a["x-amz-content-sha256"] == EMPTY_SHA256
    assert a["Authorization"] != b["Authorization"]
    assert "secret" not in repr(Credentials("AK", "secret"))
