"""A tiny OpenID Connect provider for tests: discovery, /authorize (no login page: it signs in `provider.user` at
once), /token (an RS256 id_token from a key made at start), /jwks and /userinfo, on 127.0.0.1 in a thread.

It checks what a real provider checks of a client: its id and secret, the redirect URI, a code used once, the
PKCE verifier; and it echoes the nonce. What went wrong is kept in `errors` for the test to show.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlencode, urlparse


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    """Serves one client (`client_id`, `client_secret`); `user` holds the claims of whoever signs in next."""

    def __init__(self, *, client_id: str, client_secret: str, user: dict) -> None:
        from joserfc.jwk import RSAKey

        self.client_id, self.client_secret, self.user = client_id, client_secret, user
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4), "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.signed_in: list[str] = []  # the emails given an id_token, in order
        self.errors: list[str] = []
        self.url = ""

    def metadata(self) -> dict:
        return {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                "userinfo_endpoint": f"{self.url}/userinfo", "response_types_supported": ["code"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}

    def authorize(self, q: dict[str, str]) -> tuple[int, dict, str]:
        """Sign `user` in at once: a redirect back with a code (or with error= where the request is wrong)."""
        back = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id or not back:
            return self._fail(400, f"authorize: unknown client {q.get('client_id')!r} or no redirect_uri")
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return self._redirect(back, error="invalid_request", state=q.get("state", ""))
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"user": dict(self.user), "nonce": q.get("nonce"), "redirect_uri": back,
                            "challenge": q.get("code_challenge"), "method": q.get("code_challenge_method")}
        return self._redirect(back, code=code, state=q.get("state", ""))

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict, str]:
        """Exchange a code (once) for an access token and a signed id_token."""
        from joserfc import jwt

        cid, secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            cid, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if (cid, secret) != (self.client_id, self.client_secret):
            return self._fail(401, "token: wrong client credentials", "invalid_client")
        grant = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return self._fail(400, "token: unknown or reused code", "invalid_grant")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._fail(400, "token: redirect_uri differs from the authorization's", "invalid_grant")
        if grant["challenge"]:
            verifier = form.get("code_verifier", "")
            if grant["method"] != "S256" or _b64(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
                return self._fail(400, "token: the PKCE verifier does not match", "invalid_grant")
        access_token, now, user = secrets.token_urlsafe(24), int(time.time()), grant["user"]
        claims = {"iss": self.url, "aud": self.client_id, "iat": now, "exp": now + 300, "auth_time": now,
                  "at_hash": _b64(hashlib.sha256(access_token.encode()).digest()[:16]), **user}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        self.tokens[access_token] = user
        self.signed_in.append(user.get("email", ""))
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
        return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
             "scope": "openid email profile"})

    def userinfo(self, authorization: str) -> tuple[int, dict, str]:
        user = self.tokens.get(authorization.removeprefix("Bearer "))
        if user is None:
            return self._fail(401, "userinfo: unknown access token", "invalid_token")
        return 200, {"Content-Type": "application/json"}, json.dumps(user)

    def _fail(self, status: int, why: str, error: str = "invalid_request") -> tuple[int, dict, str]:
        self.errors.append(why)
        return status, {"Content-Type": "application/json"}, json.dumps({"error": error, "error_description": why})

    @staticmethod
    def _redirect(uri: str, **params: str) -> tuple[int, dict, str]:
        sep = "&" if urlparse(uri).query else "?"
        return 302, {"Location": f"{uri}{sep}{urlencode(params)}"}, ""


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            auth = self.headers.get("Authorization", "")
            routes = {"/.well-known/openid-configuration": lambda: (200, {"Content-Type": "application/json"},
                                                                    json.dumps(provider.metadata())),
                      "/jwks": lambda: (200, {"Content-Type": "application/json"},
                                        json.dumps({"keys": [provider.key.as_dict(private=False)]})),
                      "/authorize": lambda: provider.authorize(q),
                      "/userinfo": lambda: provider.userinfo(auth)}
            self._reply(*routes.get(url.path, lambda: provider._fail(404, f"no route {url.path}"))())

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if urlparse(self.path).path != "/token":
                self._reply(*provider._fail(404, f"no route POST {self.path}"))
                return
            self._reply(*provider.token(form, self.headers.get("Authorization", "")))

        def _reply(self, status: int, headers: dict, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            for k, v in {**headers, "Content-Length": str(len(data))}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet
            pass

    return Handler


@contextlib.contextmanager
def running(*, client_id: str = "mmrec", client_secret: str | None = None,
            user: dict | None = None) -> Iterator[Provider]:
    """A Provider served on 127.0.0.1 (its `url` set) while the block runs."""
    provider = Provider(client_id=client_id, client_secret=client_secret or secrets.token_urlsafe(16),
                        user=user or {"sub": "1", "email": "alice@example.com", "email_verified": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
