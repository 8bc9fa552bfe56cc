"""Settings of the api, read from the environment when the app is imported.

Field names match variables in any letter case; unknown variables are
ignored (settings_base.py). Keys some deployments set that no field reads:
RATE_LIMIT_REQUESTS_PER_MINUTE (the limit is rate_limit_calls per
rate_limit_period), DB_CONNECTION_TIMEOUT_MS (declared below, never passed to
the client: the client takes db_connect_timeout_ms), WORKERS, MAX_CONNECTIONS,
POOL_SIZE.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from . import secrets
from .settings_base import BaseSettings


class Settings(BaseSettings):
    debug: bool = False
    log_level: str = "INFO"
    app_version: str = "0.1.0"

    # MongoDB client
    db_min_pool_size: int = 10
    db_max_pool_size: int = 100
    db_connection_timeout_ms: int = 5000
    db_server_selection_timeout_ms: int = 5000
    db_max_idle_time_ms: int = 300000
    db_connect_timeout_ms: int = 10000

    # SAPTIVA model API
    saptiva_base_url: str = "https://api.saptiva.com"
    saptiva_timeout: int = 30
    saptiva_max_retries: int = 3

    # Rate limit, per client address
    rate_limit_enabled: bool = True
    rate_limit_calls: int = 100
    rate_limit_period: int = 60

    # Browsers' origins allowed by CORS; Host headers accepted
    cors_origins: list[str] = [
        "http://localhost:3000",
    ]
    allowed_hosts: list[str] = ["localhost", "127.0.0.1"]

    # Background tasks
    celery_broker_url: str = "redis://localhost:6379/1"
    celery_result_backend: str = "redis://localhost:6379/2"

    @property
    def redis_url(self) -> str:
        return secrets.get_redis_url()

    @property
    def mongodb_url(self) -> str:
        return secrets.get_mongodb_url()

    @property
    def parsed_cors_origins(self) -> list[str]:
        """CORS_ORIGINS as JSON, else split on commas.

        Only reached once the settings were built, that is when CORS_ORIGINS
        already parsed as a JSON list: the comma branch never runs.
        """
        raw = os.environ.get("CORS_ORIGINS", "")
        if not raw:
            return list(self.cors_origins)
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, list):
            return value
        return [origin.strip() for origin in raw.split(",") if origin.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
