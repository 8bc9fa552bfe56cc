# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule engine: the live state plus the plan, turned into causes and drift.

Two passes share these rules:

* ``evaluate`` (copilotos_state, before any change): the project's files,
  Compose's view of the api service and the running container, judged
  against the plan. It also computes the drift: which managed keys the env
  file lacks, whether the toolkit's override is current, whether the api
  must be recreated.
* ``judge_running`` (copilotos_verify, after a change): the recreated
  container's environment against the plan this run applied.

What the application really does with each key comes from
``copilotos_app`` (the toolkit's facts about copilotos-bridge), never from
key names: a key the app ignores is never proof of anything.

No value that may be secret leaves this module unmasked: URLs keep scheme,
host, port and db with only the password masked; values of secret keys are
masked whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from . import copilotos_app as app
from .copilotos_causes import cause, sort_causes
from .copilotos_common import MASK, mask_url_passwords
from .copilotos_plan import desired_env, managed_keys, proof_keys, secret_keys
from .copilotos_urls import is_loopback_host, mask_url, parse_redis_url

RELEVANT_PUBLIC = ("ALLOWED_HOSTS", "NODE_ENV", "RATE_LIMIT_ENABLED", "ENVIRONMENT")


_ONE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S*$")


def shown(key: str, value: str | None, secret: set[str]) -> str | None:
    """A value as evidence.

    A value that is one URL keeps its scheme, host, port and path with only
    the password masked (so the evidence still shows *where* it points); any
    other value of a secret key is masked whole; other values (a JSON list of
    origins, say) are shown with the passwords of any URL inside them masked.
    """
    if value is None:
        return None
    if _ONE_URL.match(value.strip()):
        return mask_url(value)
    if key in secret:
        return MASK
    return mask_url_passwords(value)


def _v(field: Any) -> Any:
    """The value of one of copilotos_app's settings fields ({"value", "key", "source", "error"})."""
    return field.get("value") if isinstance(field, Mapping) else field


def _evidence(env: Mapping[str, str], keys: Iterable[str]) -> dict[str, Any]:
    """The env values of ``keys`` (shown as evidence; none of them is a secret)."""
    return {k: env.get(k) for k in keys}


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


class Context:
    """What every rule reads: the plan, the desired values, the facts, the raw values."""

    def __init__(self, plan: Mapping[str, Any], password: str | None, facts: Mapping[str, Any], raw: Any) -> None:
        self.plan = plan
        self.password = password
        self.facts = facts
        self.raw = raw
        self.desired = desired_env(plan, password)
        self.secret = set(secret_keys(plan))
        self.generation = (facts.get("app") or {}).get("generation") or "diagnosis"
        env_file = facts.get("env_file") or {}
        self.env_path = env_file.get("path") or plan["paths"]["env_file"]
        self.lines: dict[str, int] = env_file.get("lines") or {}
        self.block_keys = [k for k, _v in raw.environment_block]
        self.compose_files = (facts.get("compose") or {}).get("base") or []

    def env_where(self, key: str) -> dict[str, Any]:
        if key in self.block_keys:
            return {"compose": ", ".join(self.compose_files) or "compose file", "key": "services.%s.environment.%s" % (
                self.plan["compose"]["service"], key)}
        if key in self.lines:
            return {"file": self.env_path, "line": self.lines[key], "key": key}
        return {"file": self.env_path, "key": key, "note": "not set"}

    def container_where(self) -> dict[str, Any]:
        api = self.facts.get("api") or {}
        return {"container": api.get("name") or "%s/%s" % (self.plan["compose"]["project"],
                                                           self.plan["compose"]["service"])}

    def show(self, key: str, value: str | None) -> str | None:
        return shown(key, value, self.secret)


# -- the api's Redis clients ------------------------------------------------------
def redis_client_problems(ctx: Context, env: Mapping[str, str], where: str) -> list[dict[str, Any]]:
    """Each Redis client of the api (as this generation builds its URL) that will fail."""
    out = []
    for client in app.redis_clients(env, ctx.generation):
        url = client.get("url") or ""
        problem = None
        try:
            parsed = parse_redis_url(url)
        except ValueError as exc:
            problem = "has a URL that cannot be parsed (%s)" % str(exc)
            parsed = None
        if parsed is not None:
            if is_loopback_host(parsed.host):
                problem = "connects to %s:%s, the api's own container (Error 111, connection refused)" % (
                    parsed.host, parsed.port)
            elif parsed.host != ctx.plan["redis"]["host"] or parsed.port != int(ctx.plan["redis"]["port"]):
                problem = "connects to %s:%s, not to the Redis service %s:%s" % (
                    parsed.host, parsed.port, ctx.plan["redis"]["host"], ctx.plan["redis"]["port"])
            elif ctx.password is not None and parsed.password != ctx.password:
                problem = "carries a password other than REDIS_PASSWORD (%s)" % (
                    "none" if parsed.password is None else "a placeholder or stale one")
        if problem:
            out.append({"client": client.get("client"), "source": client.get("key"), "url": mask_url(url),
                        "problem": problem, "in": where})
    return out


def rule_redis(ctx: Context) -> list[dict[str, Any]]:
    env = ctx.raw.container or {}
    if not env:
        return []
    problems = redis_client_problems(ctx, env, "the running api")
    if not problems:
        return []
    sources = sorted({p["source"] for p in problems if p.get("source")})
    where = [ctx.env_where(k) for k in sources] + [ctx.container_where()]
    names = ", ".join("%s client (%s)" % (p["client"], p["source"]) for p in problems)
    return [cause(
        "REDIS_CLIENTS_MISCONFIGURED", "critical",
        "the api's Redis clients point at the wrong place or carry the wrong password: %s" % "; ".join(
            "the %s client (from %s) %s" % (p["client"], p["source"] or "its default", p["problem"])
            for p in problems),
        fix="remediate.yml writes REDIS_URL and CELERY_BROKER_URL (percent-encoded, db %s and %s) and REDIS_PASSWORD "
            "from copilotos_redis_password, resets the compose entries that shadow them, and recreates the api"
            % (ctx.plan["redis"]["db"], ctx.plan["redis"]["broker_db"]),
        where=where, area="redis", clients=problems, generation=ctx.generation, summary=names,
    )]


def rule_redis_password(ctx: Context) -> list[dict[str, Any]]:
    """The diagnosis generation builds its URL from REDIS_PASSWORD without encoding."""
    if ctx.generation != "diagnosis" or ctx.password is None:
        return []
    reserved = app.unencodable_password(ctx.password)  # order of first appearance
    if not reserved:
        return []
    return [cause(
        "REDIS_PASSWORD_UNENCODABLE", "critical",
        "REDIS_PASSWORD holds URL-reserved characters (%s); this generation of the api builds its Redis URL from it "
        "without percent-encoding, so that URL is broken whatever the toolkit writes" % " ".join(sorted(reserved)),
        fix="rotate the Redis password to letters and digits (requirepass and copilotos_redis_password), or run an "
            "api image of the current generation, which honours REDIS_URL; the toolkit refuses to apply until then",
        fixable="operator", where=[ctx.env_where("REDIS_PASSWORD")], area="redis",
        characters=sorted(reserved), generation=ctx.generation,
    )]


# -- settings the app reads ----------------------------------------------------------
def rule_cors(ctx: Context, env: Mapping[str, str], settings: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    cors = settings.get("cors") or {}
    raw = env.get("CORS_ORIGINS")
    if cors.get("error"):
        return [cause(
            "CORS_UNPARSEABLE", "critical",
            "CORS_ORIGINS in %s is %s: the api stops at start" % (source, cors["error"]),
            fix="remediate.yml writes CORS_ORIGINS as a JSON list of copilotos_env_cors_origins",
            where=[ctx.env_where("CORS_ORIGINS")], area="cors", value=raw,
        )]
    origins = cors.get("value") or []
    missing = [o for o in ctx.plan["cors"]["required"] if o not in origins]
    if not missing:
        return []
    return [cause(
        "CORS_ORIGIN_MISSING", "critical",
        "the api %s allows the origins %s, without the production origin(s) %s: browsers are refused" % (
            source, json.dumps(origins), ", ".join(missing)),
        fix="remediate.yml writes CORS_ORIGINS=%s (copilotos_env_cors_origins) and resets a compose entry that "
            "shadows it" % ctx.plan["env"]["CORS_ORIGINS"],
        where=[ctx.env_where("CORS_ORIGINS")], area="cors", value=raw, missing=missing, allowed=origins,
    )]


def _below(actual: Any, planned: Any) -> bool:
    return actual is not None and planned is not None and float(actual) < float(planned)


def rule_saptiva(
    ctx: Context, env: Mapping[str, str], settings: Mapping[str, Any], source: str
) -> list[dict[str, Any]]:
    sap = settings.get("saptiva") or {}
    plan = {k: _int(ctx.plan["env"][k]) for k in ("SAPTIVA_TIMEOUT", "SAPTIVA_CONNECT_TIMEOUT", "SAPTIVA_READ_TIMEOUT")}
    short = []
    fixed = (sap.get("connect_timeout") or {}).get("source") == "code"
    total, read = _v(sap.get("timeout")), _v(sap.get("read_timeout"))
    if _below(total, plan["SAPTIVA_TIMEOUT"]):
        short.append("total %s s < %s s" % (total, plan["SAPTIVA_TIMEOUT"]))
    if not fixed and _below(read, plan["SAPTIVA_READ_TIMEOUT"]):
        short.append("read %s s < %s s" % (read, plan["SAPTIVA_READ_TIMEOUT"]))
    out = []
    if short:
        keys = ["SAPTIVA_TIMEOUT"] + ([] if fixed else ["SAPTIVA_READ_TIMEOUT"])
        out.append(cause(
            "SAPTIVA_TIMEOUT_BELOW_PLAN", "medium",
            "the api %s gives the SAPTIVA upstream less time than planned: %s" % (source, ", ".join(short)),
            fix="remediate.yml writes SAPTIVA_TIMEOUT/SAPTIVA_READ_TIMEOUT (copilotos_env_saptiva_*)",
            where=[ctx.env_where(k) for k in keys], area="saptiva",
            **_evidence(env, ("SAPTIVA_TIMEOUT", "SAPTIVA_CONNECT_TIMEOUT", "SAPTIVA_READ_TIMEOUT")),
        ))
    differs = [k for k in ("SAPTIVA_TIMEOUT", "SAPTIVA_CONNECT_TIMEOUT", "SAPTIVA_READ_TIMEOUT")
               if env.get(k) != ctx.plan["env"][k] and not (fixed and k != "SAPTIVA_TIMEOUT")]
    if differs and not short:
        out.append(cause(
            "SAPTIVA_TIMEOUT_NOT_AS_PLANNED", "low",
            "the api %s runs SAPTIVA timeouts other than the plan's: %s" % (
                source, ", ".join("%s=%s (plan %s)" % (k, env.get(k), ctx.plan["env"][k]) for k in differs)),
            fix="remediate.yml writes them (copilotos_env_saptiva_*)",
            where=[ctx.env_where(k) for k in differs], area="saptiva",
        ))
    return out


def rule_mongo_pool(
    ctx: Context, env: Mapping[str, str], settings: Mapping[str, Any], source: str
) -> list[dict[str, Any]]:
    mongo = settings.get("mongo") or {}
    plan = ctx.plan["env"]
    checks = [
        ("DB_MAX_POOL_SIZE", "max_pool_size", "above", "medium"),
        ("DB_MIN_POOL_SIZE", "min_pool_size", "above", "low"),
        ("DB_SERVER_SELECTION_TIMEOUT_MS", "server_selection_timeout_ms", "below", "medium"),
        ("DB_CONNECT_TIMEOUT_MS", "connect_timeout_ms", "below", "medium"),
        ("DB_MAX_IDLE_TIME_MS", "max_idle_time_ms", "differs", "low"),
    ]
    worst, parts, keys = "info", [], []
    for key, field, direction, severity in checks:
        actual, planned = _v(mongo.get(field)), _int(plan.get(key))
        if planned is None:
            continue
        bad = ((direction == "above" and actual is not None and actual > planned)
               or (direction == "below" and (actual is None or actual < planned))
               or (direction == "differs" and actual != planned))
        if bad:
            parts.append("%s %s (plan %s)" % (key, "unset" if actual is None else actual, planned))
            keys.append(key)
            worst = severity if severity == "medium" or worst == "info" else worst
    if not parts:
        return []
    return [cause(
        "MONGO_POOL_AGGRESSIVE" if worst == "medium" else "MONGO_POOL_NOT_AS_PLANNED", worst,
        "the api %s runs its MongoDB pool outside the plan: %s" % (source, ", ".join(parts)),
        fix="remediate.yml writes DB_MIN_POOL_SIZE, DB_MAX_POOL_SIZE, DB_CONNECT_TIMEOUT_MS, "
            "DB_SERVER_SELECTION_TIMEOUT_MS and DB_MAX_IDLE_TIME_MS (copilotos_env_db_*)",
        where=[ctx.env_where(k) for k in keys], area="mongo", **_evidence(env, keys),
    )]


def rule_rate_limit(
    ctx: Context, env: Mapping[str, str], settings: Mapping[str, Any], source: str
) -> list[dict[str, Any]]:
    rate = settings.get("rate_limit") or {}
    calls, period = _int(ctx.plan["env"]["RATE_LIMIT_CALLS"]), _int(ctx.plan["env"]["RATE_LIMIT_PERIOD"])
    enabled, actual_calls, actual_period = (_v(rate.get("enabled")), _v(rate.get("calls")),
                                            _v(rate.get("period")))
    if enabled is False:
        return [cause(
            "RATE_LIMIT_DISABLED", "low", "the api %s runs with RATE_LIMIT_ENABLED off: no limit at all" % source,
            fix="decide whether that is wanted; the toolkit does not manage RATE_LIMIT_ENABLED",
            fixable="operator", where=[ctx.env_where("RATE_LIMIT_ENABLED")], area="rate_limit",
            RATE_LIMIT_ENABLED=env.get("RATE_LIMIT_ENABLED"),
        )]
    if actual_calls == calls and actual_period == period:
        return []
    tighter = bool(calls is not None and period and actual_calls is not None and actual_period
                   and actual_calls / float(actual_period) < calls / float(period))
    inert = [item for item in settings.get("inert_keys") or []
             if item.get("read_instead") == "RATE_LIMIT_CALLS"]
    return [cause(
        "RATE_LIMIT_BELOW_PLAN" if tighter else "RATE_LIMIT_NOT_AS_PLANNED", "low",
        "the api %s limits each client to %s requests per %s s (plan %s per %s s)%s" % (
            source, actual_calls, actual_period, calls, period,
            "; %s is read nowhere: the limit is RATE_LIMIT_CALLS" % ", ".join(
                "%s=%s" % (i["key"], env.get(i["key"])) for i in inert) if inert else ""),
        fix="remediate.yml writes RATE_LIMIT_CALLS=%s and RATE_LIMIT_PERIOD=%s (copilotos_env_rate_limit_*)" % (
            calls, period),
        where=[ctx.env_where("RATE_LIMIT_CALLS"), ctx.env_where("RATE_LIMIT_PERIOD")], area="rate_limit",
        RATE_LIMIT_CALLS=env.get("RATE_LIMIT_CALLS"), RATE_LIMIT_PERIOD=env.get("RATE_LIMIT_PERIOD"),
        effective={"calls": actual_calls, "period": actual_period},
    )]


def rule_inert(ctx: Context, env: Mapping[str, str], settings: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    """Keys set but never read by this app: info when the toolkit keeps them on purpose."""
    out = []
    seed = ctx.plan.get("seed_env") or {}
    for item in settings.get("inert_keys") or []:
        key = item["key"]
        reads = item.get("read_instead")
        if key not in env:
            continue
        planned = seed.get(key, ctx.plan["env"].get(key))
        if planned is not None and planned == env.get(key):
            severity, fix = "info", "none needed: the toolkit writes it for the operator's sake; it is never proof"
        elif planned is not None:
            # A key the toolkit manages under a name the app ignores, with a
            # value that is not the plan's: it misleads whoever reads the file.
            severity, fix = "low", "set %s instead (the toolkit does, from the plan)" % (reads or "nothing")
        else:
            severity = "info"
            fix = ("set %s instead if this value was meant to count" % reads if reads
                   else "remove it or ignore it: this application reads no such setting")
        out.append(cause(
            "INERT_KEY", severity,
            "%s=%s is set in the %s but this application never reads it: %s" % (
                key, ctx.show(key, env.get(key)), source, item.get("reason")),
            fix=fix, fixable="toolkit" if reads else "operator", where=[ctx.env_where(key)],
            area="inert", key=key, reads=reads,
        ))
    if len(out) > 1:  # one cause, every key as evidence
        severity = "low" if any(c["severity"] == "low" for c in out) else "info"
        keys = [c["evidence"]["key"] for c in out]
        return [cause(
            "INERT_KEY", severity, "; ".join(c["message"] for c in out),
            fix="; ".join(sorted({c["fix"] for c in out if c["severity"] == severity})),
            fixable="toolkit", where=[w for c in out for w in c["where"]], area="inert",
            keys=keys, reads={c["evidence"]["key"]: c["evidence"]["reads"] for c in out},
        )]
    return out


def rule_startup(ctx: Context, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """What the api would refuse at start with the environment this run would give it."""
    rejected = app.startup_rejections(env, ctx.generation)
    if not rejected:
        return []
    return [cause(
        "API_STARTUP_REJECTED", "critical",
        "with the planned configuration the api would refuse to start: %s" % "; ".join(
            str(r.get("message")) for r in rejected),
        fix="fix these values first (rotate the secret, correct the value); the toolkit refuses to apply them",
        fixable="operator", where=[ctx.env_where(str(r.get("key"))) for r in rejected if r.get("key")],
        area="http", reasons=rejected,
    )]


def running_rules(ctx: Context, env: Mapping[str, str], source: str) -> list[dict[str, Any]]:
    """The rules on one environment (the container's, or the one a recreate would give), read once by the model."""
    settings = app.effective_settings(env, ctx.generation)
    return [found for rule in (rule_cors, rule_saptiva, rule_mongo_pool, rule_rate_limit, rule_inert)
            for found in rule(ctx, env, settings, source)]


# -- files, Compose, containers ---------------------------------------------------------
def rule_files(ctx: Context) -> list[dict[str, Any]]:
    out = []
    env_file = ctx.facts.get("env_file") or {}
    mode = env_file.get("mode")
    if mode and int(mode, 8) & 0o077:
        out.append(cause(
            "ENV_FILE_MODE", "low", "%s is mode %s: other users can read its secrets" % (ctx.env_path, mode),
            fix="the env_file module keeps the file's mode; chmod 0600 it (the toolkit writes new files 0600)",
            fixable="operator", where=[{"file": ctx.env_path}], area="files", mode=mode,
        ))
    for key in (env_file.get("duplicates") or []):
        if key in managed_keys(ctx.plan):
            out.append(cause(
                "ENV_KEY_DUPLICATE", "low",
                "%s sets %s more than once; the last one wins (line %s)" % (ctx.env_path, key, ctx.lines.get(key)),
                fix="the toolkit manages the last assignment; remove the earlier ones by hand to avoid confusion",
                fixable="operator", where=[ctx.env_where(key)], area="files", key=key,
            ))
    return out


def rule_shadowing(ctx: Context) -> list[dict[str, Any]]:
    """Managed keys the compose ``environment:`` block sets: it wins over the env file."""
    shadowed = [k for k in ctx.block_keys if k in managed_keys(ctx.plan)]
    if not shadowed:
        return []
    if (ctx.facts.get("override") or {}).get("current"):
        return []
    rows = []
    for key in shadowed:
        rows.append({"key": key, "env_file": ctx.show(key, ctx.raw.env_file.get(key)),
                     "compose": ctx.show(key, ctx.raw.effective.get(key)),
                     "container": ctx.show(key, (ctx.raw.container or {}).get(key))})
    severity = "critical" if any(k in ("REDIS_URL", "CORS_ORIGINS", "CELERY_BROKER_URL", "REDIS_PASSWORD")
                                 for k in shadowed) else "medium"
    return [cause(
        "COMPOSE_SHADOWS_ENV_FILE", severity,
        "the compose file's environment: sets %s, which wins over %s: editing the env file cannot change them" % (
            ", ".join(shadowed), ctx.env_path),
        fix="remediate.yml writes %s, which restates that environment: without these keys (so the env file's "
            "values reach the api) and recreates the api" % (ctx.plan["paths"].get("override_file") or "an override"),
        where=[ctx.env_where(k) for k in shadowed], area="drift", keys=shadowed, values=rows,
    )]


def rule_drift(ctx: Context) -> list[dict[str, Any]]:
    """The running api differs from what Compose would start now (a ``restart`` keeps the old env)."""
    api = ctx.facts.get("api") or {}
    compose = ctx.facts.get("compose") or {}
    if not api.get("id") or not compose.get("config_hash"):
        return []
    if api.get("config_hash") == compose.get("config_hash"):
        return []
    env = ctx.raw.container or {}
    effective = {k: v for k, v in ctx.raw.effective.items() if v is not None}
    keys = sorted(k for k, v in effective.items() if env.get(k) != v)
    return [cause(
        "CONTAINER_ENV_DRIFT", "medium",
        "the running api (started %s) predates its configuration: %s differ; `docker compose restart` keeps the old "
        "environment" % (api.get("started_at"), ", ".join(keys) or "the config hash"),
        fix="remediate.yml recreates the api (docker compose up -d --no-deps %s)" % ctx.plan["compose"]["service"],
        where=[ctx.container_where()], area="drift", keys=keys,
    )]


def rule_containers(ctx: Context) -> list[dict[str, Any]]:
    out = []
    containers = ctx.facts.get("containers") or []
    services = {c.get("service") for c in containers}
    api_service = ctx.plan["compose"]["service"]
    if api_service not in services:
        out.append(cause(
            "CONTAINER_MISSING", "critical",
            "Compose project %s has no %s container" % (ctx.plan["compose"]["project"], api_service),
            fix="bring the stack up (docker compose up -d) before auditing or remediating it",
            fixable="operator", where=[{"container": api_service}], area="http",
        ))
    for state in containers:
        status, health = state.get("status"), state.get("health")
        name = state.get("name")
        if status == "restarting" or (status == "running" and state.get("restart_count", 0) and health == "unhealthy"):
            code, severity = "CONTAINER_RESTARTING", "critical"
        elif status != "running":
            code, severity = "CONTAINER_UNHEALTHY", "critical"
        elif health == "unhealthy":
            code, severity = "CONTAINER_UNHEALTHY", "critical"
        elif health == "starting":
            code, severity = "CONTAINER_STARTING", "info"
        else:
            continue
        out.append(cause(
            code, severity, "container %s (%s) is %s%s" % (name, state.get("service"), status,
                                                           ", %s" % health if health not in (None, "none") else ""),
            fix="read its log (docker logs %s); the toolkit recreates only the api" % name,
            fixable="operator", where=[{"container": name}], area="http",
            status=status, health=health, restart_count=state.get("restart_count"),
        ))
    return out


def rule_advisories(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for item in (ctx.facts.get("app") or {}).get("advisories") or []:
        out.append(cause(
            str(item.get("code") or "CODE_ADVISORY"), "info", str(item.get("message")),
            fix="application code: not fixable by this toolkit", fixable="application",
            where=[{"file": item.get("file"), "line": item.get("line")}], area="code",
            text=item.get("text"),
        ))
    generation = ctx.facts.get("app") or {}
    if generation.get("generation"):
        out.append(cause(
            "APP_GENERATION", "info",
            "the api image runs the %s generation of copilotos-bridge" % generation["generation"],
            fix="none: the rules follow what this generation reads", fixable="application",
            where=[{"file": e.get("file"), "line": e.get("line")} for e in generation.get("evidence") or []],
            area="code",
        ))
    return out


# -- drift and the predicted environment ---------------------------------------------------
def pending_keys(ctx: Context) -> list[str]:
    """Managed keys whose env-file value differs from the plan (names only)."""
    if ctx.password is None:
        return sorted(k for k, v in ctx.plan["env"].items() if ctx.raw.env_file.get(k) != v)
    return sorted(k for k, v in ctx.desired.items() if ctx.raw.env_file.get(k) != v)


def predicted_env(ctx: Context) -> dict[str, str]:
    """What the api would run with after this run: Compose's view, the env file's managed values winning."""
    env = {k: v for k, v in ctx.raw.effective.items() if v is not None}
    env.update(ctx.desired)
    return env


def evaluate(plan: Mapping[str, Any], password: str | None, facts: Mapping[str, Any],
             raw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The causes of the live state and the drift against the plan (copilotos_state)."""
    ctx = Context(plan, password, facts, raw)
    causes = rule_files(ctx) + rule_containers(ctx) + rule_advisories(ctx)
    causes += rule_redis_password(ctx) + rule_startup(ctx, predicted_env(ctx))
    causes += rule_shadowing(ctx) + rule_drift(ctx)
    running = ctx.raw.container or {}
    if running:
        causes += rule_redis(ctx) + running_rules(ctx, running, "container")
    pending = pending_keys(ctx)
    override = facts.get("override") or {}
    drift = {
        "pending_keys": pending,
        "shadowed_keys": [k for k in ctx.block_keys if k in managed_keys(plan)],
        "override_current": bool(override.get("current")),
        "recreate": bool(causes_with(causes, "CONTAINER_ENV_DRIFT")),
        "refuse": [c["code"] for c in causes if c["code"] in REFUSE_CODES],
    }
    drift["change"] = bool(drift["pending_keys"] or not drift["override_current"] or drift["recreate"])
    return sort_causes(causes), drift


REFUSE_CODES = ("API_STARTUP_REJECTED", "REDIS_PASSWORD_UNENCODABLE")


def causes_with(causes: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [c for c in causes if c["code"] == code]


def judge_running(plan: Mapping[str, Any], password: str | None, facts: Mapping[str, Any],
                  raw: Any) -> list[dict[str, Any]]:
    """The recreated api against the plan this run applied (copilotos_verify)."""
    ctx = Context(plan, password, facts, raw)
    env = ctx.raw.container or {}
    causes = rule_containers(ctx)
    if not env:
        return sort_causes(causes)
    causes += rule_redis(ctx) + running_rules(ctx, env, "container")
    wrong = [k for k in proof_keys(plan) if env.get(k) != ctx.desired.get(k)]
    if wrong:
        causes.append(cause(
            "CONTAINER_NOT_AS_PLANNED", "critical",
            "the recreated api does not run the planned values of %s" % ", ".join(wrong),
            fix="a compose file or a later env file still overrides them: see COMPOSE_SHADOWS_ENV_FILE, or run the "
                "audit for where they come from", fixable="operator", where=[ctx.container_where()], area="drift",
            keys=wrong, values={k: {"container": ctx.show(k, env.get(k)), "plan": ctx.show(k, ctx.desired.get(k))}
                                for k in wrong},
        ))
    return sort_causes(causes)
