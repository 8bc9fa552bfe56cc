"""The FastAPI app, built the same way by both generations' main.py.

The middleware, outermost first: the rate limit, CORS (credentials allowed,
origins as main.py passes them), then the trusted-host check on the Host
header (400 for a host not in ALLOWED_HOSTS). A CORS preflight is answered
by the CORS layer, before the Host check.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware

from .core.config import Settings
from .core.database import Database
from .core.logging import get_logger, setup_logging
from .core.redis_cache import redis_cache
from .middleware.rate_limit import RateLimitMiddleware
from .routers import health
from .services.cache_service import token_blacklist
from .services.saptiva_client import SaptivaClient


def create_app(settings: Settings, allow_origins: list[str]) -> FastAPI:
    setup_logging(settings.log_level)
    logger = get_logger("src.main")
    app = FastAPI(title="copilotos api (lab stand-in)", version=settings.app_version,
                  docs_url="/docs" if settings.debug else None, redoc_url="/redoc" if settings.debug else None)

    # Added innermost first: each add_middleware wraps the ones before it.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(CORSMiddleware, allow_origins=allow_origins, allow_credentials=True,
                       allow_methods=["GET", "POST", "PUT", "DELETE"], allow_headers=["*"])
    app.add_middleware(RateLimitMiddleware, calls=settings.rate_limit_calls, period=settings.rate_limit_period,
                       enabled=settings.rate_limit_enabled)

    app.include_router(health.router, prefix="/api", tags=["health"])

    @app.on_event("startup")
    def startup() -> None:
        Database.connect(settings)
        redis_cache.start()
        token_blacklist.start()
        try:
            app.state.saptiva = SaptivaClient(settings)
        except ValueError as exc:
            get_logger("src.services.saptiva_client").error("SAPTIVA client configuration invalid",
                                                            error=str(exc))
        logger.info("Starting copilotos api", version=settings.app_version)

    @app.on_event("shutdown")
    def shutdown() -> None:
        redis_cache.stop()
        token_blacklist.stop()
        Database.close()

    return app
