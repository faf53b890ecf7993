"""Which browser origins may open a WebSocket: an exact origin match, as Django's CSRF check does.

An origin is a scheme, a host and a port. A handshake is accepted when its ``Origin`` header is
the request's own origin (the ``Host`` header with the scheme the socket came in on, the host
in ``ALLOWED_HOSTS``) or an entry of ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` also
matches the subdomains, as for CSRF). The same host on another port or scheme is another site.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """``"HTTPS://Shop.example"`` -> ``("https", "shop.example", 443)``; None unless an http(s) origin."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    return scheme, parts.hostname, port or DEFAULT_PORTS[scheme]


def origin_allowed(
    origin: str | None,
    scheme: str,
    host: str,
    allowed_hosts: Sequence[str],
    trusted_origins: Sequence[str],
) -> bool:
    """Whether a handshake's ``origin`` may connect to a socket reached over ``scheme`` (``ws``
    or ``wss``) at ``host`` (the ``Host`` header)."""
    parsed = parse_origin(origin or "")
    if parsed is None:
        return False
    domain, _ = split_domain_port(host)
    http_scheme = "https" if scheme in ("wss", "https") else "http"
    if domain and validate_host(domain, allowed_hosts) and parse_origin(f"{http_scheme}://{host}") == parsed:
        return True
    return any(_trusted(parsed, pattern) for pattern in trusted_origins)


def _trusted(origin: Origin, pattern: str) -> bool:
    wildcard = "://*." in pattern
    trusted = parse_origin(pattern.replace("://*.", "://", 1))
    if trusted is None:
        return False
    scheme, host, port = origin
    same_host = host == trusted[1] or (wildcard and host.endswith("." + trusted[1]))
    return same_host and (scheme, port) == (trusted[0], trusted[2])


class ExactOriginValidator:
    """ASGI middleware for WebSockets: a handshake from any other origin is denied (HTTP 403)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = {name.lower(): value.decode("latin1") for name, value in scope.get("headers", [])}
        allowed_hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed_hosts:  # Django's own default while debugging
            allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
        if origin_allowed(
            headers.get(b"origin"),
            _scheme(scope, headers),
            headers.get(b"host", ""),
            allowed_hosts,
            settings.CSRF_TRUSTED_ORIGINS,
        ):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def _scheme(scope: dict[str, Any], headers: dict[bytes, str]) -> str:
    """``wss`` when the socket is secure, directly or (as ``request.is_secure()`` reads it) behind a
    proxy named by ``SECURE_PROXY_SSL_HEADER``."""
    if settings.SECURE_PROXY_SSL_HEADER:
        name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
        if header in headers:
            return "wss" if headers[header].split(",", 1)[0].strip() == secure_value else "ws"
    return scope.get("scheme", "ws")
