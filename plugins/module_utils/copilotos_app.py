# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the real copilotos api (saptiva-ai/copilotos-bridge) does with its configuration.

The toolkit's single source of facts about the application, as pure
functions (no I/O: callers read the container's environment and the image's
files and pass them in). The facts come from the app's source at two
generations (docs: /work/shared/upstream-copilotos.md, summarised in
README "What the application really reads"):

* ``diagnosis``: what production ran on the diagnosis date (2d7a163);
* ``current``: the current head (a6838af).

API
---
``GENERATIONS``
    ``("diagnosis", "current")``.
``WEAK_SECRETS``
    Known weak or placeholder values, compared case-insensitively with the
    whole value; ``is_weak_secret(value)``.
``CRITICAL_SECRETS``
    ``((variable, minimum length), ...)`` checked at start-up under
    ``NODE_ENV=production``.
``SOURCE_FILES``
    Logical name -> ``{"service": "api"|"web", "path": <path in the image>,
    "repo_path": <path in the repository>}``: the files that
    ``detect_generation`` and ``code_advisories`` read. In the api image the
    source sits in ``/app/src`` (the image copies ``apps/api`` to ``/app``
    and runs ``uvicorn src.main:app`` from there). The web client's
    TypeScript source is at ``/app/apps/web/src/lib/api-client.ts`` in a
    development web image (and in the lab's); a production web image ships
    only the compiled bundle, so that file is then absent (pass None).
``detect_generation(files)``
    ``files`` maps logical names to file texts (None: not readable). Returns
    ``{"generation": "diagnosis"|"current"|None, "evidence": [...],
    "conflicts": [...], "missing": [...]}``; each evidence item is
    ``{"file", "line", "text", "generation", "marker"}``. The generation is
    the one every marker found agrees on; None when no marker is found or
    they disagree (then ``conflicts`` holds the disagreeing items).
``code_advisories(files)``
    Defects in the application's code, each ``{"code", "severity":
    "advisory", "file", "line", "text", "message", "fix", "fixable": False,
    "note": "application code: not fixable by this toolkit"}``: the SAPTIVA
    connect timeout fixed at 5 s (diagnosis generation), the CORS default in
    config.py, the web client's 30 s timeout without retries.
``redis_clients(env, generation)``
    The api's two Redis clients (the cache, ``src.core.redis_cache``; the
    token blacklist, ``src.services.cache_service``) and the URL each really
    uses with this container environment: ``{"client", "module", "logger",
    "failure_event", "key", "keys", "source", "url", "url_masked",
    "target"}``. ``url`` carries the password: mask it (``url_masked``)
    before it leaves the target. ``target`` is what redis-py dials:
    ``{"host", "port", "db", "username", "password_set", "host_defaulted",
    "error"}``.
``effective_settings(env, generation)``
    The values the api runs with: rate limit, Mongo pool and timeouts,
    SAPTIVA timeouts (``source: "code"`` where fixed in code), CORS origins
    or the parse error, allowed hosts, and ``inert_keys`` (set but never
    read, naming the key that is read). Each value is ``{"value", "key",
    "source": "env"|"default"|"code", "error"}``.
``startup_rejections(env, generation)``
    Every reason the api would refuse to start with this environment, each
    ``{"code", "key", "message"}`` (and ``field``, ``min_length`` where
    relevant); never a secret's value.
``unencodable_password(password)``
    The URL-reserved characters in a password (``@ : / # ? %`` and ``[ ]``)
    that break the URL the diagnosis generation builds without encoding.

Environment lookups follow the app: Settings fields match variables in any
letter case (pydantic-settings, ``case_sensitive=False``; the last match in
``env``'s order wins); the variables the code reads with ``os.getenv``
(``NODE_ENV``, ``REDIS_URL``, ``REDIS_PASSWORD``, ``REDIS_HOST``,
``REDIS_PORT``, ``REDIS_DB``, the secrets, ``SAPTIVA_CONNECT_TIMEOUT``,
``SAPTIVA_READ_TIMEOUT``, ``CORS_ORIGINS`` for ``parsed_cors_origins``) match
exactly.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

GENERATIONS = ("diagnosis", "current")

WEAK_SECRETS = frozenset({
    "password", "changeme", "change_me", "change-me", "secret", "admin", "default", "test",
    "redis_password_change_me", "mongodb_password_change_me", "your-secret-key", "dev-secret-key",
})

CRITICAL_SECRETS = (
    ("MONGODB_PASSWORD", 12),
    ("REDIS_PASSWORD", 12),
    ("JWT_SECRET_KEY", 32),
    ("SECRET_KEY", 32),
)

NOT_FIXABLE = "application code: not fixable by this toolkit"

SOURCE_FILES = {
    "main": {"service": "api", "path": "/app/src/main.py", "repo_path": "apps/api/src/main.py"},
    "config": {"service": "api", "path": "/app/src/core/config.py", "repo_path": "apps/api/src/core/config.py"},
    "redis_cache": {"service": "api", "path": "/app/src/core/redis_cache.py",
                    "repo_path": "apps/api/src/core/redis_cache.py"},
    "saptiva_client": {"service": "api", "path": "/app/src/services/saptiva_client.py",
                       "repo_path": "apps/api/src/services/saptiva_client.py"},
    "web_api_client": {"service": "web", "path": "/app/apps/web/src/lib/api-client.ts",
                       "repo_path": "apps/web/src/lib/api-client.ts"},
}

# (logical file, generation, regex, what it shows). Only code lines count
# (not lines that start with a comment).
GENERATION_MARKERS = (
    ("redis_cache", "diagnosis", r"\.celery_broker_url\b", "the cache takes the Celery broker's URL"),
    ("redis_cache", "current", r"\.redis_url\b", "the cache takes the settings' Redis URL"),
    ("saptiva_client", "diagnosis", r"\bconnect\s*=\s*5(?:\.0*)?\s*[,)]", "the connect timeout is 5 s in code"),
    ("saptiva_client", "current", r"""(?:getenv|environ\.get)\(\s*["']SAPTIVA_CONNECT_TIMEOUT["']""",
     "the connect timeout comes from SAPTIVA_CONNECT_TIMEOUT"),
    ("main", "diagnosis", r"allow_origins\s*=\s*settings\.cors_origins\b", "CORS origins from cors_origins"),
    ("main", "current", r"\.parsed_cors_origins\b", "CORS origins from parsed_cors_origins"),
)

# Settings fields the toolkit reasons about: (field, type, default).
SETTINGS_FIELDS = (
    ("debug", "bool", False),
    ("db_min_pool_size", "int", 10),
    ("db_max_pool_size", "int", 100),
    ("db_connection_timeout_ms", "int", 5000),
    ("db_server_selection_timeout_ms", "int", 5000),
    ("db_max_idle_time_ms", "int", 300000),
    ("db_connect_timeout_ms", "int", 10000),
    ("saptiva_timeout", "int", 30),
    ("saptiva_max_retries", "int", 3),
    ("rate_limit_enabled", "bool", True),
    ("rate_limit_calls", "int", 100),
    ("rate_limit_period", "int", 60),
    ("cors_origins", "list", ["http://localhost:3000"]),
    ("allowed_hosts", "list", ["localhost", "127.0.0.1"]),
    ("celery_broker_url", "str", "redis://localhost:6379/1"),
)
_FIELD = {name: (kind, default) for name, kind, default in SETTINGS_FIELDS}

_SETTINGS_REDIS = "REDIS_PASSWORD, REDIS_HOST, REDIS_PORT, REDIS_DB"
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_URL_RESERVED = ":/?#[]@%"
_INT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_ORIGIN = re.compile(r"https?://[^/\s?#]+")

if TYPE_CHECKING:  # aliases for annotations only: target Pythons from 3.8 import this file
    from collections.abc import Mapping

    Env = Mapping[str, str]
    Files = Mapping[str, "str | None"]


def _check_generation(generation: str) -> None:
    if generation not in GENERATIONS:
        raise ValueError("generation must be one of %s, not %r" % (", ".join(GENERATIONS), generation))


def is_weak_secret(value: str) -> bool:
    return value.lower() in WEAK_SECRETS


def unencodable_password(password: str) -> list[str]:
    """URL-reserved characters of ``password``, in order of first appearance, each once."""
    found: list[str] = []
    for char in password:
        if char in _URL_RESERVED and char not in found:
            found.append(char)
    return found


# --- Settings, as pydantic-settings builds them -------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _field_raw(env: Env, field: str) -> tuple[str | None, str | None]:
    """(variable name, value) of a Settings field: any letter case, the last match wins."""
    found: tuple[str | None, str | None] = (None, None)
    for key, value in env.items():
        if key.lower() == field:
            found = (key, value)
    return found


def _parse(kind: str, raw: str) -> Any:
    if kind == "int":
        if _INT.fullmatch(raw.strip()):
            return int(raw.strip().split(".")[0].replace("_", ""))
        raise _Invalid("int_parsing", "not a valid integer")
    if kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise _Invalid("bool_parsing", "not a valid boolean")
    if kind == "list":
        try:
            value = json.loads(raw)
        except ValueError:
            raise _Invalid("json_decode", "not a JSON list: the settings source cannot decode it") from None
        if value is None:
            return None
        if not isinstance(value, list):
            raise _Invalid("list_type", "JSON, but not a list")
        if not all(isinstance(item, str) for item in value):
            raise _Invalid("string_type", "a JSON list whose items are not all strings")
        return value
    return raw


def _field(env: Env, field: str) -> dict[str, Any]:
    """{"value", "key", "source", "error", "kind"} of one Settings field."""
    kind, default = _FIELD[field]
    key, raw = _field_raw(env, field)
    if key is None or raw is None:
        return {"value": list(default) if isinstance(default, list) else default, "key": field.upper(),
                "source": "default", "error": None}
    try:
        value = _parse(kind, raw)
    except _Invalid as exc:
        return {"value": None, "key": key, "source": "env", "error": str(exc), "kind": exc.kind}
    if value is None:  # JSON null keeps the default
        return {"value": list(default) if isinstance(default, list) else default, "key": key, "source": "default",
                "error": None}
    return {"value": value, "key": key, "source": "env", "error": None}


def _float_env(env: Env, key: str, default: float) -> dict[str, Any]:
    if key not in env:
        return {"value": default, "key": key, "source": "default", "error": None}
    try:
        return {"value": float(env[key]), "key": key, "source": "env", "error": None}
    except ValueError:
        return {"value": None, "key": key, "source": "env", "error": "not a number"}


# --- Redis ---------------------------------------------------------------------------------------------------


def _valid_redis_password(env: Env) -> str | None:
    password = env.get("REDIS_PASSWORD")
    if not password or not password.strip() or len(password) < 8 or is_weak_secret(password):
        return None
    return password


def _built_redis_url(password: str | None, env: Env) -> str:
    where = "%s:%s/%s" % (env.get("REDIS_HOST", "redis"), env.get("REDIS_PORT", "6379"), env.get("REDIS_DB", "0"))
    return "redis://:%s@%s" % (password, where) if password else "redis://%s" % where


def _settings_redis_url(env: Env, generation: str) -> dict[str, Any]:
    """The settings' Redis URL: where it comes from and what it is."""
    password = _valid_redis_password(env)
    if generation == "current":
        if env.get("REDIS_URL"):
            return {"url": env["REDIS_URL"], "key": "REDIS_URL", "keys": ["REDIS_URL"], "source": "env"}
        return {"url": _built_redis_url(password, env), "key": "REDIS_PASSWORD",
                "keys": ["REDIS_PASSWORD", "REDIS_HOST", "REDIS_PORT", "REDIS_DB"], "source": "built"}
    if password is not None:
        return {"url": _built_redis_url(password, env), "key": "REDIS_PASSWORD",
                "keys": ["REDIS_PASSWORD", "REDIS_HOST", "REDIS_PORT", "REDIS_DB"], "source": "built"}
    return {"url": env.get("REDIS_URL", ""), "key": "REDIS_URL", "keys": ["REDIS_URL"],
            "source": "env" if "REDIS_URL" in env else "default"}


def _redis_target(url: str) -> dict[str, Any]:
    """What redis-py's Redis.from_url dials for this URL (its parse_url, step by step)."""
    target: dict[str, Any] = {"host": None, "port": None, "db": None, "username": None, "password_set": False,
                              "host_defaulted": False, "error": None}
    try:
        parts = urlsplit(url)
        if parts.scheme not in _REDIS_SCHEMES:
            raise ValueError("Redis URL must specify one of the following schemes (redis://, rediss://, unix://)")
        query = {name: values[0] for name, values in parse_qs(parts.query).items() if values}
        db: int | None = None
        if "db" in query:
            db = int(query["db"])
        if parts.scheme == "unix":
            target["host"] = parts.path
        else:
            target["host"] = unquote(parts.hostname) if parts.hostname else "localhost"
            target["host_defaulted"] = not parts.hostname
            target["port"] = int(parts.port) if parts.port else 6379
            if db is None and parts.path:
                try:
                    db = int(unquote(parts.path).replace("/", ""))
                except ValueError:
                    db = None
        target["db"] = 0 if db is None else db
        target["username"] = unquote(parts.username) if parts.username else None
        target["password_set"] = bool(parts.password)
    except ValueError:
        # The message of a failed port cast may quote part of the password.
        target.update(host=None, port=None, db=None, username=None, password_set=False,
                      error="redis-py cannot parse this URL")
    return target


def _mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority_end = len(rest)
    for delimiter in "/?#":
        position = rest.find(delimiter)
        if position != -1:
            authority_end = min(authority_end, position)
    at = rest.rfind("@", 0, authority_end) if "@" in rest[:authority_end] else rest.rfind("@")
    if at == -1:
        return url
    userinfo = rest[:at]
    user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
    return "%s://%s:%s@%s" % (scheme, user, "********", rest[at + 1:]) if userinfo else url


def redis_clients(env: Env, generation: str) -> list[dict[str, Any]]:
    """The api's Redis clients and the URL each one dials, for this container environment."""
    _check_generation(generation)
    settings_url = _settings_redis_url(env, generation)
    if generation == "diagnosis":
        broker = _field(env, "celery_broker_url")
        cache = {"url": str(broker["value"]).replace("/1", "/0"), "key": broker["key"], "keys": [broker["key"]],
                 "source": broker["source"]}
    else:
        cache = dict(settings_url)
    out = []
    for client, module, logger, event, chosen in (
        ("cache", "src/core/redis_cache.py", "src.core.redis_cache", "Redis cache connection failed", cache),
        ("token_blacklist", "src/services/cache_service.py", "src.services.cache_service",
         "Redis token blacklist connection failed", settings_url),
    ):
        out.append({"client": client, "module": module, "logger": logger, "failure_event": event,
                    "key": chosen["key"], "keys": list(chosen["keys"]), "source": chosen["source"],
                    "url": chosen["url"], "url_masked": _mask_url(chosen["url"]),
                    "target": _redis_target(chosen["url"])})
    return out


# --- Effective settings and start-up ---------------------------------------------------------------------------


def _cors(env: Env, generation: str) -> dict[str, Any]:
    field = _field(env, "cors_origins")
    origins = field["value"]
    if origins is not None and generation == "current":
        raw = env.get("CORS_ORIGINS", "")
        if raw:
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = None
            origins = decoded if isinstance(decoded, list) else [o.strip() for o in raw.split(",") if o.strip()]
    unmatchable = [o for o in origins or [] if not isinstance(o, str) or (o != "*" and not _ORIGIN.fullmatch(o))]
    return {"value": origins, "key": field["key"], "source": field["source"], "error": field["error"],
            "unmatchable": unmatchable}


def _inert_keys(env: Env, generation: str) -> list[dict[str, Any]]:
    present = {key.upper() for key in env}
    rules: list[tuple[str, str | None, str]] = [
        ("RATE_LIMIT_REQUESTS_PER_MINUTE", "RATE_LIMIT_CALLS",
         "the limit is RATE_LIMIT_CALLS requests per RATE_LIMIT_PERIOD seconds"),
        ("DB_CONNECTION_TIMEOUT_MS", "DB_CONNECT_TIMEOUT_MS",
         "declared in the settings but never passed to the Mongo client; connectTimeoutMS is DB_CONNECT_TIMEOUT_MS"),
        ("WORKERS", None, "the image runs uvicorn with --workers 1; no setting reads WORKERS"),
        ("MAX_CONNECTIONS", "DB_MAX_POOL_SIZE", "one api process has one Mongo pool of DB_MAX_POOL_SIZE"),
        ("POOL_SIZE", "DB_MAX_POOL_SIZE", "one api process has one Mongo pool of DB_MAX_POOL_SIZE"),
    ]
    if generation == "diagnosis":
        rules += [
            ("SAPTIVA_CONNECT_TIMEOUT", None, "the connect timeout is fixed at 5 s in saptiva_client.py"),
            ("SAPTIVA_READ_TIMEOUT", "SAPTIVA_TIMEOUT",
             "the client's only timeout setting is SAPTIVA_TIMEOUT (connect fixed at 5 s)"),
        ]
        if "REDIS_URL" in env and _valid_redis_password(env) is not None:
            rules.append(("REDIS_URL", "REDIS_PASSWORD",
                          "this generation builds the URL from %s and uses REDIS_URL only when REDIS_PASSWORD is "
                          "missing, shorter than 8 characters or a weak value" % _SETTINGS_REDIS))
    return [{"key": key, "read_instead": instead, "reason": reason} for key, instead, reason in rules
            if key in present]


def effective_settings(env: Env, generation: str) -> dict[str, Any]:
    """The configuration the api runs with, given its container environment."""
    _check_generation(generation)
    if generation == "diagnosis":
        connect = {"value": 5.0, "key": None, "source": "code", "error": None,
                   "note": "fixed at 5 s in saptiva_client.py; SAPTIVA_CONNECT_TIMEOUT has no effect"}
        read = dict(_field(env, "saptiva_timeout"))
    else:
        connect = _float_env(env, "SAPTIVA_CONNECT_TIMEOUT", 10.0)
        read = _float_env(env, "SAPTIVA_READ_TIMEOUT", 120.0)
    return {
        "generation": generation,
        "starts": not startup_rejections(env, generation),
        "rate_limit": {"enabled": _field(env, "rate_limit_enabled"), "calls": _field(env, "rate_limit_calls"),
                       "period": _field(env, "rate_limit_period")},
        "mongo": {"min_pool_size": _field(env, "db_min_pool_size"), "max_pool_size": _field(env, "db_max_pool_size"),
                  "connect_timeout_ms": _field(env, "db_connect_timeout_ms"),
                  "server_selection_timeout_ms": _field(env, "db_server_selection_timeout_ms"),
                  "max_idle_time_ms": _field(env, "db_max_idle_time_ms")},
        "saptiva": {"timeout": _field(env, "saptiva_timeout"), "connect_timeout": connect, "read_timeout": read},
        "cors": _cors(env, generation),
        "allowed_hosts": _field(env, "allowed_hosts"),
        "inert_keys": _inert_keys(env, generation),
    }


def startup_rejections(env: Env, generation: str) -> list[dict[str, Any]]:
    """Every reason the api refuses to start with this environment (no secret value is quoted)."""
    _check_generation(generation)
    out: list[dict[str, Any]] = []
    if env.get("NODE_ENV") == "production":
        for key, min_length in CRITICAL_SECRETS:
            value = env.get(key)
            if not value:
                out.append({"code": "SECRET_MISSING", "key": key, "min_length": min_length,
                            "message": "NODE_ENV=production and %s is not set" % key})
            elif not value.strip():
                out.append({"code": "SECRET_EMPTY", "key": key, "min_length": min_length,
                            "message": "NODE_ENV=production and %s is blank" % key})
            elif len(value) < min_length:
                out.append({"code": "SECRET_TOO_SHORT", "key": key, "min_length": min_length,
                            "message": "NODE_ENV=production and %s is shorter than %d characters"
                                       % (key, min_length)})
            elif is_weak_secret(value):
                out.append({"code": "SECRET_WEAK", "key": key, "min_length": min_length,
                            "message": "NODE_ENV=production and %s is a known weak or placeholder value" % key})
    for name, kind, _default in SETTINGS_FIELDS:
        field = _field(env, name)
        if field["error"] is None:
            continue
        code = "SETTINGS_PARSE_ERROR" if field.get("kind") == "json_decode" else "SETTINGS_INVALID"
        out.append({"code": code, "key": field["key"], "field": name,
                    "message": "%s is %s (settings field %s, %s)" % (field["key"], field["error"], name, kind)})
    return out


# --- The application's source ----------------------------------------------------------------------------------


def _code_lines(text: str) -> list[tuple[int, str]]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "//", "*", "/*")):
            out.append((number, line))
    return out


def _evidence(name: str, number: int, line: str, generation: str, marker: str) -> dict[str, Any]:
    return {"file": SOURCE_FILES[name]["path"], "line": number, "text": line.strip(), "generation": generation,
            "marker": marker}


def detect_generation(files: Files) -> dict[str, Any]:
    """Which generation the image's source is, from the markers of GENERATION_MARKERS."""
    evidence: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    missing = sorted(name for name in {m[0] for m in GENERATION_MARKERS} if files.get(name) is None)
    for name in sorted({m[0] for m in GENERATION_MARKERS} - set(missing)):
        found = []
        lines = _code_lines(files[name] or "")
        for file_name, generation, pattern, what in GENERATION_MARKERS:
            if file_name != name:
                continue
            regex = re.compile(pattern)
            hit = next(((n, line) for n, line in lines if regex.search(line)), None)
            if hit is not None:
                found.append(_evidence(name, hit[0], hit[1], generation, what))
        # The diagnosis cache also reaches settings.redis_url in some versions: the Celery broker decides.
        if name == "redis_cache" and any(f["generation"] == "diagnosis" for f in found):
            found = [f for f in found if f["generation"] == "diagnosis"]
        if len({f["generation"] for f in found}) > 1:
            conflicts.extend(found)
        else:
            evidence.extend(found)
    generations = {item["generation"] for item in evidence}
    if len(generations) > 1:
        conflicts.extend(evidence)
        evidence = []
    detected: str | None = generations.pop() if len(generations) == 1 and not conflicts else None
    return {"generation": detected, "evidence": evidence, "conflicts": conflicts, "missing": missing}


def _advisory(name: str, code: str, number: int, line: str, message: str, fix: str) -> dict[str, Any]:
    return {"code": code, "severity": "advisory", "file": SOURCE_FILES[name]["path"], "line": number,
            "text": line.strip(), "message": message, "fix": fix, "fixable": False, "note": NOT_FIXABLE}


def code_advisories(files: Files) -> list[dict[str, Any]]:
    """Defects in the application's code the toolkit can report and not fix, with file:line."""
    out: list[dict[str, Any]] = []
    saptiva = files.get("saptiva_client")
    if saptiva:
        regex = re.compile(GENERATION_MARKERS[2][2])
        for number, line in _code_lines(saptiva):
            if regex.search(line):
                out.append(_advisory(
                    "saptiva_client", "SAPTIVA_CONNECT_TIMEOUT_IN_CODE", number, line,
                    "the SAPTIVA client's connect timeout is fixed at 5 s in code: SAPTIVA_CONNECT_TIMEOUT and "
                    "SAPTIVA_READ_TIMEOUT have no effect",
                    "upgrade the api to a version whose client reads SAPTIVA_CONNECT_TIMEOUT/SAPTIVA_READ_TIMEOUT"))
                break
    config = files.get("config")
    if config:
        lines = config.splitlines()
        for index, line in enumerate(lines):
            match = re.match(r"(\s*)cors_origins\s*:", line)
            if not match:
                continue
            indent = len(match.group(1))
            for offset in range(index, min(index + 8, len(lines))):
                candidate = lines[offset]
                if offset > index and candidate.strip() and len(candidate) - len(candidate.lstrip()) <= indent:
                    break
                if "localhost" in candidate:
                    out.append(_advisory(
                        "config", "CORS_DEFAULT_LOCALHOST", offset + 1, candidate,
                        "the default CORS origins (used when CORS_ORIGINS is unset) are localhost only",
                        "set CORS_ORIGINS to a JSON list of the production origins; changing the default is an "
                        "application change"))
                    break
            break
    client = files.get("web_api_client")
    if client:
        code = _code_lines(client)
        retries = any(re.search(r"axios-?retry|\bretr(?:y|ies)\b", line, re.IGNORECASE) for _number, line in code)
        for number, line in code:
            timeout = re.search(r"\btimeout\s*:\s*([0-9_]+)", line)
            if timeout and not retries:
                out.append(_advisory(
                    "web_api_client", "WEB_CLIENT_NO_RETRY", number, line,
                    "the web client waits %s ms per request and never retries a failed one"
                    % timeout.group(1).replace("_", ""),
                    "add retries with backoff for network errors and 5xx in the web client (an application change)"))
                break
    return out
