"""What both generations' SAPTIVA clients share: an httpx client and its log line.

The timeouts are the one thing that differs; each generation's
saptiva_client.py says where they come from (build_timeout). No request is
sent to SAPTIVA in the lab: the client is built when the api starts and its
timeouts are logged, so that their effect shows from outside.
"""

from __future__ import annotations

import httpx

from ..core.config import Settings
from ..core.logging import get_logger

logger = get_logger("src.services.saptiva_client")


class SaptivaClientBase:
    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.saptiva_base_url
        self.timeout = self.build_timeout(settings)
        self.client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)
        logger.info("SAPTIVA client configured", connect_timeout=self.timeout.connect,
                    read_timeout=self.timeout.read, write_timeout=self.timeout.write,
                    pool_timeout=self.timeout.pool)

    def build_timeout(self, settings: Settings) -> httpx.Timeout:
        raise NotImplementedError
