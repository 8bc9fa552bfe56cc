# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters of the copilotos roles: URL building with percent-encoding, env-file values."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ansible.errors import AnsibleFilterError

# The env-file quoting rules live in module_utils (env_file uses them on the
# target); the controller imports the same file through the collection name,
# which ansible.cfg's collections_path serves from this checkout.
from ansible_collections.copilotos.remediation.plugins.module_utils.copilotos_env import EnvValueError, render_value


def urlquote(value: Any) -> str:
    """Percent-encode every reserved character (RFC 3986 userinfo-safe)."""
    if value is None:
        raise AnsibleFilterError("copilotos_urlquote: got no value")
    return quote(str(value), safe="")


def redis_url(
    password: Any, host: str = "redis", port: int = 6379, db: int = 0, username: str = "", scheme: str = "redis"
) -> str:
    """Build ``redis://[user]:<pct-encoded password>@host:port/db``."""
    if not password:
        raise AnsibleFilterError("copilotos_redis_url: the Redis password is empty")
    return "%s://%s:%s@%s:%d/%d" % (scheme, quote(str(username), safe=""), urlquote(password), host, int(port), int(db))


def mongo_url(
    password: Any,
    username: str,
    host: str = "mongodb",
    port: int = 27017,
    database: str = "copilotos",
    auth_source: str = "admin",
) -> str:
    """Build ``mongodb://user:<pct-encoded password>@host:port/db?authSource=...``."""
    if not password or not username:
        raise AnsibleFilterError("copilotos_mongo_url: the MongoDB username or password is empty")
    return "mongodb://%s:%s@%s:%d/%s?authSource=%s" % (
        urlquote(username),
        urlquote(password),
        host,
        int(port),
        database,
        quote(auth_source, safe=""),
    )


def env_value(value: Any) -> str:
    """The text to write after ``KEY=`` in an env file so that Compose reads ``value`` back exactly."""
    if value is None:
        raise AnsibleFilterError("copilotos_env_value: got no value")
    try:
        return str(render_value(str(value)))
    except EnvValueError as exc:
        raise AnsibleFilterError("copilotos_env_value: the value %s" % exc) from None


class FilterModule:
    """copilotos URL filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "copilotos_urlquote": urlquote,
            "copilotos_redis_url": redis_url,
            "copilotos_mongo_url": mongo_url,
            "copilotos_env_value": env_value,
        }
