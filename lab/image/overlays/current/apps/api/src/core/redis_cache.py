"""Redis cache of chat history (current generation): it uses the settings' Redis URL."""

from __future__ import annotations

from .config import Settings, get_settings
from .logging import get_logger
from .redis_keeper import KeptRedis

logger = get_logger(__name__)


def cache_url(settings: Settings) -> str:
    return settings.redis_url


redis_cache = KeptRedis(lambda: cache_url(get_settings()), logger,
                        failed="Redis cache connection failed", connected="Redis cache connected successfully")
