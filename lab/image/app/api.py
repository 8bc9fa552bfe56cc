"""Lab stand-in for copilotos-api (FastAPI).

It reads the same environment variables, with the same semantics, as the
service in the production diagnosis, so that the remediation can be proven
against it:

* ``REDIS_URL``: the cache. A failure is logged as the diagnosis shows it:
  ``{"event": "Redis cache connection failed", "level": "warning",
  "logger": "src.core.redis_cache", "error": "..."}``.
* ``CORS_ORIGINS``: parsed the way pydantic-settings parses ``List[str]``
  from the environment: the value must be a JSON list. A comma-separated
  value (``https://a,https://b``) is not JSON, so the api refuses to start
  with ``error parsing value for field "cors_origins"``, exactly like the
  real service; the container then never becomes healthy.
* ``MONGODB_URL`` and ``DB_*``: the MongoClient pool and timeouts.
* ``SAPTIVA_TIMEOUT`` / ``SAPTIVA_CONNECT_TIMEOUT`` / ``SAPTIVA_READ_TIMEOUT``.
* ``RATE_LIMIT_REQUESTS_PER_MINUTE`` / ``RATE_LIMIT_PERIOD``: enforced per
  client address (429 past the limit); the container's own health check
  (from 127.0.0.1) is not counted.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import pymongo
import redis
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

structlog.configure(
    processors=[
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.JSONRenderer(sort_keys=True),
    ],
    logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
)


def logger(name: str) -> Any:
    return structlog.get_logger().bind(logger=name)


class SettingsError(Exception):
    """Raised when a variable cannot be parsed, as pydantic-settings does."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        message = 'error parsing value for field "%s": %r is not a valid integer' % (name.lower(), raw)
        raise SettingsError(message) from None


def _float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        message = 'error parsing value for field "%s": %r is not a valid number' % (name.lower(), raw)
        raise SettingsError(message) from None
    if value <= 0:
        raise SettingsError('field "%s" must be greater than 0' % name.lower())
    return value


def _origins() -> list[str]:
    raw = _env("CORS_ORIGINS", '["http://localhost:3000"]')
    try:
        value = json.loads(raw)
    except ValueError:
        raise SettingsError('error parsing value for field "cors_origins" from source "EnvSettingsSource"') from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError('field "cors_origins": input should be a valid list of strings')
    return value


class Settings:
    def __init__(self) -> None:
        self.redis_url = _env("REDIS_URL", "redis://localhost:6379/0")
        self.mongodb_url = _env("MONGODB_URL", "mongodb://localhost:27017/copilotos")
        self.cors_origins = _origins()
        self.db_min_pool_size = _int("DB_MIN_POOL_SIZE", 10)
        self.db_max_pool_size = _int("DB_MAX_POOL_SIZE", 100)
        self.db_connection_timeout_ms = _int("DB_CONNECTION_TIMEOUT_MS", 5000)
        self.db_server_selection_timeout_ms = _int("DB_SERVER_SELECTION_TIMEOUT_MS", 5000)
        self.db_max_idle_time_ms = _int("DB_MAX_IDLE_TIME_MS", 0)
        self.saptiva_timeout = _float("SAPTIVA_TIMEOUT", 120)
        self.saptiva_connect_timeout = _float("SAPTIVA_CONNECT_TIMEOUT", 30)
        self.saptiva_read_timeout = _float("SAPTIVA_READ_TIMEOUT", 60)
        self.rate_limit = _int("RATE_LIMIT_REQUESTS_PER_MINUTE", 100)
        self.rate_period = _int("RATE_LIMIT_PERIOD", 60)
        if self.db_min_pool_size > self.db_max_pool_size:
            raise SettingsError("DB_MIN_POOL_SIZE must not exceed DB_MAX_POOL_SIZE")
        if self.rate_limit <= 0 or self.rate_period <= 0:
            raise SettingsError("rate limit and period must be greater than 0")

    def public(self) -> dict[str, Any]:
        """Effective settings without any secret (the URLs are left out)."""
        redis_host = redis.connection.parse_url(self.redis_url).get("host", "?")
        return {
            "cors_origins": self.cors_origins,
            "redis_host": redis_host,
            "db": {
                "min_pool_size": self.db_min_pool_size,
                "max_pool_size": self.db_max_pool_size,
                "connection_timeout_ms": self.db_connection_timeout_ms,
                "server_selection_timeout_ms": self.db_server_selection_timeout_ms,
                "max_idle_time_ms": self.db_max_idle_time_ms,
            },
            "saptiva": {
                "timeout": self.saptiva_timeout,
                "connect_timeout": self.saptiva_connect_timeout,
                "read_timeout": self.saptiva_read_timeout,
            },
            "rate_limit": {"requests_per_minute": self.rate_limit, "period": self.rate_period},
        }


try:
    settings = Settings()
except SettingsError as exc:
    logger("src.core.config").error("Settings validation failed", error=str(exc))
    sys.exit(1)

redis_log = logger("src.core.redis_cache")
mongo_log = logger("src.core.database")
app_log = logger("src.main")

redis_client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
mongo_client: pymongo.MongoClient = pymongo.MongoClient(
    settings.mongodb_url,
    minPoolSize=settings.db_min_pool_size,
    maxPoolSize=settings.db_max_pool_size,
    connectTimeoutMS=settings.db_connection_timeout_ms,
    serverSelectionTimeoutMS=settings.db_server_selection_timeout_ms,
    maxIdleTimeMS=settings.db_max_idle_time_ms or None,
    connect=False,
)


def check_redis() -> dict[str, Any]:
    started = time.monotonic()
    try:
        redis_client.ping()
    except redis.exceptions.RedisError as exc:
        redis_log.warning("Redis cache connection failed", error=str(exc))
        return {"status": "unhealthy", "error": str(exc)}
    return {"status": "healthy", "latency_ms": round((time.monotonic() - started) * 1000, 2)}


def check_mongo() -> dict[str, Any]:
    started = time.monotonic()
    try:
        mongo_client.admin.command("ping")
    except pymongo.errors.PyMongoError as exc:
        mongo_log.error("MongoDB ping failed", error="%s: %s" % (type(exc).__name__, str(exc)[:300]))
        return {"status": "unhealthy", "error": type(exc).__name__}
    return {"status": "healthy", "latency_ms": round((time.monotonic() - started) * 1000, 2)}


class RateLimiter:
    """Fixed window per client address, as RATE_LIMIT_* configure it."""

    def __init__(self, per_minute: int, period: int) -> None:
        self.allowed = max(1, round(per_minute * period / 60))
        self.period = period
        self.windows: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()

    def hit(self, client: str) -> bool:
        window = int(time.time() // self.period)
        with self.lock:
            start, count = self.windows.get(client, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self.windows[client] = (start, count)
        return count <= self.allowed


limiter = RateLimiter(settings.rate_limit, settings.rate_period)
app = FastAPI(title="copilotos-api (lab stand-in)")


@app.middleware("http")
async def rate_limit(request: Request, call_next: Any) -> Any:
    client = request.client.host if request.client else "unknown"
    if client != "127.0.0.1" and not limiter.hit(client):
        app_log.warning("Rate limit exceeded", client=client, path=request.url.path)
        return JSONResponse({"detail": "Rate limit exceeded"}, status_code=429,
                            headers={"Retry-After": str(settings.rate_period)})
    return await call_next(request)


# Added last, so it is the outermost layer: preflights are answered here.
app.add_middleware(
    CORSMiddleware,
    allow_origins=settings.cors_origins,
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)


@app.on_event("startup")
async def startup() -> None:
    app_log.info("Starting copilotos-api", settings=settings.public())
    check_redis()


@app.get("/api/health")
def health() -> dict[str, Any]:
    checks = {"redis": check_redis(), "mongodb": check_mongo()}
    status = "healthy" if all(c["status"] == "healthy" for c in checks.values()) else "degraded"
    return {"status": status, "checks": checks}


@app.get("/api/settings")
def public_settings() -> dict[str, Any]:
    return settings.public()


@app.post("/api/chat")
def chat(payload: dict[str, Any]) -> dict[str, Any]:
    return {"reply": "lab stand-in: no upstream model is called", "echo_chars": len(json.dumps(payload))}


if __name__ == "__main__":
    uvicorn.run(app, host="0.0.0.0", port=int(_env("API_PORT", "8000")),
                log_level="warning", access_log=False, timeout_keep_alive=2)
