"""Who the client is: X-Forwarded-For, believed only from the proxies in TRUSTED_PROXIES.

Rate limits and audit rows are keyed by the client address. If any peer could name its own
address in X-Forwarded-For, every guess could come "from" a new address. So, in both HTTP
apps:
- TRUSTED_PROXIES empty (the default): the header is ignored, the TCP peer is the client;
- otherwise, when the peer is a trusted proxy, the client is the right-most address of
  X-Forwarded-For that is not itself a trusted proxy (each proxy appends the peer it saw, so
  everything left of that address was written by the client and proves nothing).

The rewriting is uvicorn's own ProxyHeadersMiddleware, given exactly the trusted set; it
sets `scope["client"]` (and the scheme from X-Forwarded-Proto) for HTTP and websockets
alike, so `request.client` is right everywhere. The servers started by `signage` run with
`--no-proxy-headers` (ops.cli.processes): uvicorn would otherwise apply its default trust
(127.0.0.1) before the app, whatever TRUSTED_PROXIES says.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from core.config import Settings


def forwarded_middleware(settings: Settings) -> list[Middleware]:
    """The middleware that applies TRUSTED_PROXIES; none at all when nothing is trusted."""
    if not settings.trusted_proxies:
        return []
    trusted = [str(network) for network in settings.trusted_proxies]
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)]
