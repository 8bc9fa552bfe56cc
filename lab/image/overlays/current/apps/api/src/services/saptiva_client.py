"""SAPTIVA client (current generation).

The connect and read timeouts come from the environment (defaults 10 and
120 s), the rest from SAPTIVA_TIMEOUT.
"""

from __future__ import annotations

import os

import httpx

from ..core.config import Settings
from .saptiva_base import SaptivaClientBase


class SaptivaClient(SaptivaClientBase):
    def build_timeout(self, settings: Settings) -> httpx.Timeout:
        connect = float(os.environ.get("SAPTIVA_CONNECT_TIMEOUT", "10"))
        read = float(os.environ.get("SAPTIVA_READ_TIMEOUT", "120"))
        return httpx.Timeout(settings.saptiva_timeout, connect=connect, read=read)
