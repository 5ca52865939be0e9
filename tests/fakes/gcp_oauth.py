"""A fake Google OAuth 2.0 token endpoint for service-account keys.

google-auth signs a JWT with the key and posts it as a jwt-bearer grant; the fake checks
the grant type and the JWT's issuer, then issues an access token. Other fakes can then
check `Authorization: Bearer <token>` on the API calls.

The contract is tests/contracts/google/oauth (RFC 6749 sections 5.1 and 5.2, RFC 7523,
and Google's own client, google/oauth2/_client.py): a form-encoded POST with grant_type
and assertion; success answers access_token, token_type and expires_in; a bad request
answers 400 with {"error": ..., "error_description": ...}.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any
from urllib.parse import parse_qs

from tests.contracts.spec import constraints
from tests.fakes.gcp_http import FakeGoogleAPI, Request, route

CONTRACT = constraints("google/oauth")
GRANT = CONTRACT["request.grant_type"]


class FakeOAuth(FakeGoogleAPI):
    def __init__(self, client_email: str | None = None) -> None:
        super().__init__()
        self.client_email = client_email
        self.tokens: list[str] = []
        self.public_key: Any = None  # of the service-account key, to check self-signed JWTs

    def _oauth_error(self, req: Request, error: str, description: str) -> tuple[int, Any]:
        body = {"error": error, "error_description": description}
        self.refused.append((req, body))
        return CONTRACT["error.status"], body

    @route("POST", r"/token", rpc=None)
    def token(self, req: Request) -> tuple[int, Any]:
        ctype = req.headers.get("content-type", "")
        if not ctype.startswith(CONTRACT["request.content_type"]):
            return self._oauth_error(req, "invalid_request", f"unsupported content type {ctype}")
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        missing = [f for f in CONTRACT["request.required"] if not form.get(f)]
        if missing:
            return self._oauth_error(req, "invalid_request", f"missing {', '.join(missing)}")
        if form["grant_type"] != GRANT:
            return self._oauth_error(req, "unsupported_grant_type", "Invalid grant_type.")
        try:
            payload = form["assertion"].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return self._oauth_error(req, "invalid_grant", "Invalid JWT: malformed assertion")
        if self.client_email and claims.get("iss") != self.client_email:
            return self._oauth_error(req, "invalid_grant", "Invalid JWT Signature.")
        assert "cloud-platform" in claims.get("scope", ""), claims
        token = "ya29.fake-" + secrets.token_urlsafe(16)
        self.tokens.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def authorized(self, req: Request) -> bool:
        """Whether req carries a token this fake issued, or a JWT the key signed.

        Google's generated clients send service-account credentials as self-signed JWTs
        (no token exchange); the signature is checked against the key's public half.
        """
        header = req.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        token = header[7:]
        if token in self.tokens:
            return True
        return self.public_key is not None and _verify_jwt(
            token, self.public_key, self.client_email
        )


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify_jwt(token: str, public_key: Any, issuer: str | None) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head, body, sig = token.split(".")
        public_key.verify(_b64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):
        return False
    claims = json.loads(_b64(body))
    return issuer is None or claims.get("iss") == issuer
