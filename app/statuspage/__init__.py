"""The public status page (see DESIGN.md): components, public incidents, maintenance,
uptime, subscribers, feeds and the Statuspage-compatible JSON, served from a cache
that is rendered once per change (app.statuspage.cache)."""
from __future__ import annotations

from flask import Flask

from app import clock


def init_app(app: Flask) -> None:
    """The cache and its WSGI middleware. Call before ProxyFix wraps the app, so the
    middleware sees the host and scheme ProxyFix restored."""
    from app.database import write_intent
    from app.security import headers_for
    from app.statuspage import service
    from app.statuspage.cache import PublicCache, StatusCacheMiddleware

    def read_epoch():
        with app.app_context(), write_intent(False):
            version = service.read_version()
        return version, int(clock.now().timestamp() // app.config["STATUS_RERENDER_SECONDS"])

    cache = PublicCache(read_epoch, check_seconds=app.config["STATUS_CACHE_CHECK_SECONDS"])
    app.extensions["statuspage_cache"] = cache
    app.wsgi_app = StatusCacheMiddleware(app.wsgi_app, app, cache, headers_for(False), headers_for(True))
