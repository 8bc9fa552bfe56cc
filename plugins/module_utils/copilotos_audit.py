# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration audit of the copilotos api: pure functions over env values.

Every function takes plain dicts (the env file's effective values, the
container's environment, the plan) and returns findings built with
``copilotos_common.finding``. Evidence never carries a secret value: secret
keys are reported by name only, URLs are masked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.module_utils.copilotos_common import MASK, finding, mask_url_passwords

DEFAULT_PLAN: dict[str, Any] = {
    "cors_required_origins": ["https://copiloto.saptiva.com", "https://www.copiloto.saptiva.com"],
    "saptiva_timeout": 120,
    "saptiva_connect_timeout": 15,
    "saptiva_read_timeout": 120,
    "db_max_pool_size": 50,
    "db_server_selection_timeout_ms": 10000,
    "rate_limit_min": 500,
}


def shown(key: str, value: str | None, secret_keys: Sequence[str]) -> str | None:
    """A value as it may appear in evidence."""
    if value is None:
        return None
    if key in secret_keys:
        return MASK
    return mask_url_passwords(value)


def parse_origins(raw: str | None) -> tuple[list[str] | None, str | None]:
    """Parse CORS_ORIGINS like pydantic-settings: a JSON list of strings."""
    if raw is None:
        return None, "CORS_ORIGINS is not set"
    try:
        value = json.loads(raw)
    except ValueError:
        return None, "not a JSON list (the api fails to start with it)"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None, "JSON but not a list of strings"
    return value, None


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def audit_cors(values: Mapping[str, str], plan: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    raw = values.get("CORS_ORIGINS")
    origins, error = parse_origins(raw)
    if error:
        return [
            finding(
                "CORS_UNPARSEABLE", "critical", "CORS_ORIGINS in %s: %s" % (source, error), source=source, value=raw
            )
        ]
    missing = [o for o in plan["cors_required_origins"] if o not in (origins or [])]
    if missing:
        return [
            finding(
                "CORS_ORIGIN_MISSING",
                "critical",
                "CORS_ORIGINS in %s lacks the production origin(s) %s" % (source, ", ".join(missing)),
                source=source,
                value=raw,
                missing=missing,
            )
        ]
    return []


def audit_timeouts(values: Mapping[str, str], plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    total = _number(values.get("SAPTIVA_TIMEOUT"))
    connect = _number(values.get("SAPTIVA_CONNECT_TIMEOUT"))
    read = _number(values.get("SAPTIVA_READ_TIMEOUT"))
    evidence = {
        "SAPTIVA_TIMEOUT": values.get("SAPTIVA_TIMEOUT"),
        "SAPTIVA_CONNECT_TIMEOUT": values.get("SAPTIVA_CONNECT_TIMEOUT"),
        "SAPTIVA_READ_TIMEOUT": values.get("SAPTIVA_READ_TIMEOUT"),
    }
    out = []
    if read is None or read < plan["saptiva_read_timeout"] or total is None or total < plan["saptiva_timeout"]:
        out.append(
            finding(
                "SAPTIVA_TIMEOUT_BELOW_PLAN",
                "medium",
                "SAPTIVA read/total timeouts are below the plan (read %s s, total %s s)"
                % (plan["saptiva_read_timeout"], plan["saptiva_timeout"]),
                **evidence,
            )
        )
    if None in (total, connect, read) or not (connect < read <= total):  # type: ignore[operator]
        out.append(
            finding(
                "SAPTIVA_TIMEOUT_INCONSISTENT",
                "medium",
                "SAPTIVA timeouts must satisfy connect < read <= total",
                **evidence,
            )
        )
    return out


def audit_mongo_pool(values: Mapping[str, str], plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    max_pool = _number(values.get("DB_MAX_POOL_SIZE"))
    if max_pool is None or max_pool > plan["db_max_pool_size"]:
        out.append(
            finding(
                "MONGO_POOL_ABOVE_PLAN",
                "medium",
                "DB_MAX_POOL_SIZE is above the plan's %s" % plan["db_max_pool_size"],
                DB_MAX_POOL_SIZE=values.get("DB_MAX_POOL_SIZE"),
                DB_MIN_POOL_SIZE=values.get("DB_MIN_POOL_SIZE"),
            )
        )
    sst = _number(values.get("DB_SERVER_SELECTION_TIMEOUT_MS"))
    if sst is None or sst < plan["db_server_selection_timeout_ms"]:
        out.append(
            finding(
                "MONGO_SERVER_SELECTION_TIMEOUT_LOW",
                "medium",
                "DB_SERVER_SELECTION_TIMEOUT_MS is below %s ms" % plan["db_server_selection_timeout_ms"],
                DB_SERVER_SELECTION_TIMEOUT_MS=values.get("DB_SERVER_SELECTION_TIMEOUT_MS"),
            )
        )
    return out


def audit_rate_limit(values: Mapping[str, str], plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    rpm = _number(values.get("RATE_LIMIT_REQUESTS_PER_MINUTE"))
    if rpm is None or rpm < plan["rate_limit_min"]:
        return [
            finding(
                "RATE_LIMIT_BELOW_EXPECTED",
                "low",
                "RATE_LIMIT_REQUESTS_PER_MINUTE is below the expected %s per minute" % plan["rate_limit_min"],
                RATE_LIMIT_REQUESTS_PER_MINUTE=values.get("RATE_LIMIT_REQUESTS_PER_MINUTE"),
            )
        ]
    return []


def pending_keys(values: Mapping[str, str], desired: Mapping[str, str]) -> list[str]:
    """Managed keys whose file value differs from the desired one (names only)."""
    return sorted(key for key, want in desired.items() if values.get(key) != want)


def audit_drift(
    file_values: Mapping[str, str],
    container_values: Mapping[str, str],
    secret_keys: Sequence[str],
    override_in_place: bool,
) -> list[dict[str, Any]]:
    """The running container against the file on disk."""
    out = []
    drift = sorted(k for k, v in file_values.items() if k in container_values and container_values[k] != v)
    missing = sorted(k for k in file_values if k not in container_values)
    if "REDIS_URL" in drift and not override_in_place:
        out.append(
            finding(
                "COMPOSE_OVERRIDE_MISSING",
                "critical",
                "the compose file's environment overrides REDIS_URL, so the api ignores .env.production",
                container_value=shown("REDIS_URL", container_values.get("REDIS_URL"), secret_keys),
                file_value=shown("REDIS_URL", file_values.get("REDIS_URL"), secret_keys),
            )
        )
        drift.remove("REDIS_URL")
    if drift or missing:
        out.append(
            finding(
                "CONTAINER_ENV_DRIFT",
                "medium",
                "the running api does not carry the env file's values (edited but never recreated?)",
                differing_keys=drift,
                missing_keys=missing,
            )
        )
    return out


# A health check in its first runs reports "starting"; Docker's default
# start period is 0 s but health checks run every 30 s, so a container that
# started less than this many seconds ago is still being judged.
STARTING_GRACE_S = 120


def audit_containers(states: Sequence[Mapping[str, Any]], grace_s: int = STARTING_GRACE_S) -> list[dict[str, Any]]:
    out = []
    for state in states:
        uptime = state.get("uptime_s")
        if (
            state.get("status") == "running"
            and state.get("health") == "starting"
            and not int(state.get("restart_count") or 0)
            and isinstance(uptime, int)
            and uptime < grace_s
        ):
            out.append(
                finding(
                    "CONTAINER_STARTING",
                    "info",
                    "container %s started %d s ago and its health check has not passed yet"
                    % (state.get("name"), uptime),
                    service=state.get("service"),
                    uptime_s=uptime,
                    grace_s=grace_s,
                )
            )
            continue
        if state.get("status") == "restarting" or (
            int(state.get("restart_count") or 0) > 0 and state.get("health") != "healthy"
        ):
            out.append(
                finding(
                    "CONTAINER_RESTARTING",
                    "critical",
                    "container %s is restarting" % state.get("name"),
                    service=state.get("service"),
                    status=state.get("status"),
                    restart_count=state.get("restart_count"),
                )
            )
        elif state.get("status") != "running" or state.get("health") not in ("healthy", "none"):
            out.append(
                finding(
                    "CONTAINER_UNHEALTHY",
                    "critical",
                    "container %s is %s/%s" % (state.get("name"), state.get("status"), state.get("health")),
                    service=state.get("service"),
                    status=state.get("status"),
                    health=state.get("health"),
                    last_health_output=mask_url_passwords(state.get("last_health_output", ""))[-200:],
                )
            )
    return out


def audit_file_mode(mode: int) -> list[dict[str, Any]]:
    if mode & 0o007:
        return [
            finding(
                "ENV_FILE_WORLD_READABLE",
                "medium",
                "the env file is accessible to other users (mode %04o)" % mode,
                mode="%04o" % mode,
            )
        ]
    return []
