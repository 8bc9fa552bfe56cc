"""Token blacklist on Redis (logout, refresh), in both generations.

It reaches Redis with the settings' Redis URL (secrets.get_redis_url), not
with the cache's. A failure is logged by this module's logger with its own
message, "Redis token blacklist connection failed".
"""

from __future__ import annotations

from ..core.config import get_settings
from ..core.logging import get_logger
from ..core.redis_keeper import KeptRedis

logger = get_logger(__name__)

token_blacklist = KeptRedis(lambda: get_settings().redis_url, logger,
                            failed="Redis token blacklist connection failed",
                            connected="Redis token blacklist connected")
