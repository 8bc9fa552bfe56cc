"""The MongoDB client and its pool, as the settings configure it.

Options passed: minPoolSize=DB_MIN_POOL_SIZE, maxPoolSize=DB_MAX_POOL_SIZE,
connectTimeoutMS=DB_CONNECT_TIMEOUT_MS, serverSelectionTimeoutMS=
DB_SERVER_SELECTION_TIMEOUT_MS, maxIdleTimeMS=DB_MAX_IDLE_TIME_MS. The
declared db_connection_timeout_ms is not among them.
"""

from __future__ import annotations

import time
from typing import Any

import pymongo

from .config import Settings
from .logging import get_logger

logger = get_logger(__name__)


class Database:
    client: pymongo.MongoClient | None = None

    @classmethod
    def connect(cls, settings: Settings) -> None:
        options = {
            "minPoolSize": settings.db_min_pool_size,
            "maxPoolSize": settings.db_max_pool_size,
            "connectTimeoutMS": settings.db_connect_timeout_ms,
            "serverSelectionTimeoutMS": settings.db_server_selection_timeout_ms,
            "maxIdleTimeMS": settings.db_max_idle_time_ms,
        }
        cls.client = pymongo.MongoClient(settings.mongodb_url, **options)
        logger.info("MongoDB client created", **options)

    @classmethod
    def ping(cls) -> dict[str, Any]:
        started = time.monotonic()
        try:
            if cls.client is None:
                raise pymongo.errors.ConnectionFailure("no client")
            cls.client.admin.command("ping")
        except pymongo.errors.PyMongoError as exc:
            logger.error("MongoDB ping failed", error=type(exc).__name__)
            return {"status": "unhealthy", "error": type(exc).__name__}
        return {"status": "healthy", "latency_ms": round((time.monotonic() - started) * 1000, 2)}

    @classmethod
    def close(cls) -> None:
        if cls.client is not None:
            cls.client.close()
            cls.client = None
