"""SAPTIVA client (diagnosis generation).

The total timeout is SAPTIVA_TIMEOUT; the connect timeout is 5 s in the code
below, so neither SAPTIVA_CONNECT_TIMEOUT nor SAPTIVA_READ_TIMEOUT changes
anything.
"""

from __future__ import annotations

import httpx

from ..core.config import Settings
from .saptiva_base import SaptivaClientBase


class SaptivaClient(SaptivaClientBase):
    def build_timeout(self, settings: Settings) -> httpx.Timeout:
        return httpx.Timeout(settings.saptiva_timeout, connect=5.0)
