"""Secrets of the api (diagnosis generation).

The Redis URL is built from REDIS_PASSWORD, REDIS_HOST, REDIS_PORT and
REDIS_DB, the password not percent-encoded. REDIS_URL is the fallback, used
only when REDIS_PASSWORD is missing, shorter than 8 characters or a known
weak value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .secret_checks import (
    SecretNotFoundError,
    SecretValidationError,
    build_redis_url,
    get_mongodb_url,
    get_secret,
    validate_critical_secrets,
)

__all__ = ["get_mongodb_url", "get_redis_url", "get_secret"]


def get_redis_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    try:
        password = get_secret("REDIS_PASSWORD", required=True, min_length=8, environ=env)
    except (SecretNotFoundError, SecretValidationError):
        return env.get("REDIS_URL", "")
    return build_redis_url(password, env)


validate_critical_secrets()
