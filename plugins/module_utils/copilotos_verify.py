# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One verification pass: every probe of the live api at once, one verdict.

The probes (the same code as the single-purpose modules redis_auth,
mongo_ping, http_probe and container_logs) run concurrently in threads:

* Redis: each Redis client of the api is tried with the URL this generation
  of the application really builds from the container's environment, and
  Redis's own ``CLIENT LIST`` must show an authenticated connection from the
  api container's address made after the api started;
* MongoDB: a ping with the api's own URI, and the pool (serverStatus);
* HTTP: health, liveness and readiness, a CORS preflight per production
  origin with a Host the api's ALLOWED_HOSTS accepts, a concurrent burst;
* the rate limit: from a throwaway container on the project network (its own
  client address, so its own bucket), ``RATE_LIMIT_CALLS`` requests must pass
  and the next one must be refused; only where it is safe (``behaviour``);
* the api's log: no error signature since it started, watched for a while
  after a recreate.

Every observation that fails becomes a symptom; symptoms go under the causes
the rules found (copilotos_causes.attach).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import copilotos_app as app
from .copilotos_causes import attach, merge, symptom
from .copilotos_common import mask_url_passwords, one_line
from .copilotos_docker import DockerError, container_address, container_env, service_container
from .copilotos_http import MODULE_KWARGS as HTTP_KWARGS
from .copilotos_http import run_probe as http_probe
from .copilotos_logs import MODULE_KWARGS as LOGS_KWARGS
from .copilotos_logs import run_probe as logs_probe
from .copilotos_mongo import MODULE_KWARGS as MONGO_KWARGS
from .copilotos_mongo import run_probe as mongo_probe
from .copilotos_redis import MODULE_KWARGS as REDIS_KWARGS
from .copilotos_redis import classify_error as redis_error
from .copilotos_redis import run_probe as redis_probe
from .copilotos_rules import judge_running
from .copilotos_state import Raw, container_facts, parse_docker_time
from .copilotos_urls import mask_url


def params(kwargs: Mapping[str, Any], **given: Any) -> dict[str, Any]:
    """A probe module's parameters: its argument spec's defaults, then ``given``."""
    spec = kwargs["argument_spec"]
    out = {name: opt.get("default") for name, opt in spec.items()}
    unknown = set(given) - set(spec)
    if unknown:
        raise ValueError("unknown probe options: %s" % ", ".join(sorted(unknown)))
    out.update(given)
    return out


def run_all(jobs: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run the jobs in threads; a job that raises gives ``{"error": ...}``."""
    results: dict[str, Any] = {}

    def one(name: str, job: Callable[[], Any]) -> None:
        try:
            results[name] = job()
        except Exception as exc:  # a probe must never take the others down
            results[name] = {"error": "%s: %s" % (type(exc).__name__, one_line(mask_url_passwords(exc), 240))}

    threads = [threading.Thread(target=one, args=(n, j), daemon=True) for n, j in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# -- Redis: the clients, and Redis's view of them -------------------------------------
def client_list(client: Any, project: str, password: str | None, wait_s: float, api_ip: str | None,
                api_started: str | None) -> dict[str, Any]:
    """Connections Redis sees from the api's address, newer than the api (polled up to ``wait_s``)."""
    import redis  # the probe modules already required it

    address = container_address(service_container(client, project, "redis"))
    started = parse_docker_time(api_started)
    age_limit = None
    deadline = time.monotonic() + max(0.0, wait_s)
    seen: list[dict[str, Any]] = []
    conn = redis.Redis(host=address, port=6379, password=password, socket_timeout=5, socket_connect_timeout=5)
    try:
        while True:
            if started is not None:
                age_limit = int(time.time() - started.timestamp()) + 2
            entries = conn.client_list()
            seen = [
                {"addr": e.get("addr"), "age": int(e.get("age", 0)), "idle": int(e.get("idle", 0)),
                 "cmd": e.get("cmd"), "db": e.get("db"), "user": e.get("user")}
                for e in entries
                if api_ip and str(e.get("addr", "")).rpartition(":")[0] == api_ip
            ]
            fresh = [e for e in seen if age_limit is None or e["age"] <= age_limit]
            authed = [e for e in fresh if e["cmd"] not in ("auth", "hello", "NULL", None)]
            if authed or time.monotonic() >= deadline:
                return {"redis_address": address, "api_address": api_ip, "connections": seen,
                        "authenticated": authed, "api_age_limit_s": age_limit}
            time.sleep(1.0)
    finally:
        conn.close()


def probe_redis(ctx: Verification) -> dict[str, Any]:
    clients = app.redis_clients(ctx.env, ctx.generation)
    out: dict[str, Any] = {"clients": []}
    for item in clients:
        url = item.get("url") or ""
        result = redis_probe(params(REDIS_KWARGS, url=url, expected_password=ctx.password,
                                    compose_project=ctx.project, docker_host=ctx.docker_host, mode="audit"))
        out["clients"].append({"name": item.get("client"), "source": item.get("key"), "url": mask_url(url),
                               "authenticated": result.get("authenticated"), "findings": result.get("findings")})
    try:
        out["client_list"] = client_list(ctx.client, ctx.project, ctx.password, ctx.redis_wait_s, ctx.api_ip,
                                         ctx.api_started)
    except DockerError as exc:
        # A stopped redis container has no address: Redis is unreachable, the probe itself worked.
        out["client_list"] = {"code": "REDIS_UNREACHABLE", "error": one_line(exc)}
    except Exception as exc:  # redis-py's errors, classified as the probe modules do
        code, why = redis_error(exc, False)
        out["client_list"] = {"code": code, "error": why}
    return out


def redis_symptoms(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in result.get("clients") or []:
        for found in item.get("findings") or []:
            if found["severity"] in ("critical", "medium"):
                out.append(symptom(found["code"], "redis", "%s client (%s): %s" % (
                    item["name"], item.get("source"), found["message"]), found["severity"],
                    client=item["name"], url=item["url"]))
    listing = result.get("client_list") or {}
    if listing.get("error"):
        out.append(symptom(listing["code"], "redis", "Redis's CLIENT LIST could not be read with the vault password: %s"
                           % mask_url_passwords(listing["error"]), "critical"))
    elif listing and not listing.get("authenticated"):
        out.append(symptom(
            "REDIS_NO_API_CONNECTION", "redis",
            "Redis's CLIENT LIST shows no authenticated connection from the api (%s) since it started" % (
                listing.get("api_address")), "critical",
            connections=listing.get("connections"), api_address=listing.get("api_address")))
    return out


# -- MongoDB ------------------------------------------------------------------------
def probe_mongo(ctx: Verification) -> dict[str, Any]:
    uri = ctx.env.get("MONGODB_URL") or "mongodb://mongodb:27017/"
    max_pool = _int(ctx.env.get("DB_MAX_POOL_SIZE"))
    result = mongo_probe(params(MONGO_KWARGS, uri=uri, server_status=True, max_pool_size=max_pool,
                                api_replicas=ctx.api_replicas, compose_project=ctx.project,
                                docker_host=ctx.docker_host, mode="audit"))
    keys = ("ok", "authenticated", "target", "latency_ms", "server_status", "pool", "findings")
    return {k: result.get(k) for k in keys}


def mongo_symptoms(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [symptom(f["code"], "mongo", f["message"], f["severity"], **(f.get("evidence") or {}))
            for f in result.get("findings") or [] if f["severity"] in ("critical", "medium", "low")]


# -- HTTP ----------------------------------------------------------------------------
def probe_http(ctx: Verification) -> dict[str, Any]:
    base = ctx.api_url.rstrip("/")
    # The single requests first, the burst last: a burst spends the client's
    # rate-limit budget, and must not turn the probes after it into 429s.
    extra = {}
    for path, wanted in (("/api/health/live", 200), ("/api/health/ready", 200)):
        got = http_probe(params(HTTP_KWARGS, url=base + path, expect_status=wanted, host_header=ctx.host_header,
                                mode="audit"))
        extra[path] = {"status": got.get("status"), "findings": got.get("findings")}
    health = http_probe(params(HTTP_KWARGS, url=base + "/api/health", cors_origins=list(ctx.origins),
                               burst=ctx.burst, health_json=True, host_header=ctx.host_header, mode="audit"))
    health["endpoints"] = extra
    return health


def http_symptoms(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for found in result.get("findings") or []:
        area = {"CORS_PREFLIGHT_FAILED": "cors", "HEALTH_CHECK_UNHEALTHY": "mongo"}.get(found["code"], "http")
        if (found.get("evidence") or {}).get("status") == 429:
            area = "rate_limit"
        if found["code"] == "BURST_NON_200" and set((found.get("evidence") or {}).get("statuses") or {}) <= {
                "200", "429"}:
            out.append(symptom("BURST_RATE_LIMITED", "rate_limit", found["message"] + " (429: the rate limit)",
                               "low", **(found.get("evidence") or {})))
            continue
        out.append(symptom(found["code"], area, found["message"], found["severity"], **(found.get("evidence") or {})))
    for path, got in (result.get("endpoints") or {}).items():
        for found in got.get("findings") or []:
            # A 429 is the rate limit answering, not a broken endpoint: it is
            # a symptom of the rate-limit cause when there is one.
            area = "rate_limit" if got.get("status") == 429 else "http"
            out.append(symptom(found["code"], area, "%s: %s" % (path, found["message"]), found["severity"],
                               status=got.get("status")))
    return out


# -- the rate limit, by behaviour -------------------------------------------------------
RATE_SCRIPT = r"""
import http.client, json, sys
host, port, path, header, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
statuses = []
conn = None
for i in range(count):
    try:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", path, headers={"Host": header} if header else {})
        resp = conn.getresponse(); resp.read(); statuses.append(resp.status)
    except Exception as exc:
        statuses.append(str(type(exc).__name__))
    finally:
        if conn: conn.close()
print(json.dumps(statuses))
"""


def probe_rate_limit(ctx: Verification) -> dict[str, Any]:
    """``calls`` requests from a fresh client address pass, the next is refused (429)."""
    calls, period = _int(ctx.env.get("RATE_LIMIT_CALLS")), _int(ctx.env.get("RATE_LIMIT_PERIOD"))
    settings = ctx.settings.get("rate_limit") or {}
    calls = (settings.get("calls") or {}).get("value", calls)
    period = (settings.get("period") or {}).get("value", period)
    if (settings.get("enabled") or {}).get("value") is False or not calls:
        return {"skipped": "the rate limit is off"}
    api = ctx.api
    network = sorted((api.attrs.get("NetworkSettings") or {}).get("Networks") or {})[0]
    port = ctx.container_port
    command = ["python3", "-c", RATE_SCRIPT, ctx.service, str(port), "/api/health/live", ctx.host_header or "",
               str(int(calls) + 1)]
    started = time.monotonic()
    output = ctx.client.containers.run(api.attrs["Config"]["Image"], command[1:], entrypoint=command[0],
                                       network=network, remove=True, stdout=True, stderr=False)
    statuses = json.loads(output.decode("utf-8").strip().splitlines()[-1])
    elapsed = time.monotonic() - started
    passed = sum(1 for s in statuses[:-1] if s == 200)
    return {"calls": calls, "period": period, "sent": len(statuses), "passed": passed, "last": statuses[-1],
            "seconds": round(elapsed, 2), "within_window": elapsed < float(period or 60)}


def rate_symptoms(result: Mapping[str, Any], plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not result or result.get("skipped") or result.get("error"):
        return [symptom("RATE_LIMIT_PROBE_FAILED", "rate_limit", "the rate-limit probe failed: %s" % result["error"],
                        "low")] if result and result.get("error") else []
    planned = _int(plan["env"].get("RATE_LIMIT_CALLS"))
    ok = result["passed"] == result["calls"] and result["last"] == 429 and result["calls"] == planned
    if ok or not result["within_window"]:
        return []
    return [symptom(
        "RATE_LIMIT_NOT_AS_PLANNED", "rate_limit",
        "from a fresh client address %d of %d requests passed and request %d got %s (plan: %s per %s s)" % (
            result["passed"], result["sent"] - 1, result["sent"], result["last"], planned,
            plan["env"].get("RATE_LIMIT_PERIOD")), "medium", **dict(result))]


# -- logs ------------------------------------------------------------------------------
def probe_logs(ctx: Verification) -> dict[str, Any]:
    result = logs_probe(params(LOGS_KWARGS, project_name=ctx.project, service=ctx.service,
                               watch_seconds=ctx.watch_seconds, secrets=[s for s in [ctx.password] if s],
                               docker_host=ctx.docker_host, mode="audit"), client=ctx.client)
    out = {k: result.get(k) for k in ("counts", "matches", "scanned_lines", "since", "findings")}
    out["watch_seconds"] = ctx.watch_seconds  # how long the log was followed after the scan (the report's window)
    return out


def log_symptoms(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for found in result.get("findings") or []:
        evidence = dict(found.get("evidence") or {})
        out.append(symptom(found["code"], str(evidence.pop("area", "logs")), found["message"], found["severity"],
                           **evidence))
    return out


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class Verification:
    """The inputs every probe reads, gathered once."""

    def __init__(self, p: Mapping[str, Any], client: Any, api: Any) -> None:
        plan = p["plan"]
        self.plan = plan
        self.client = client
        self.api = api
        self.password = p["redis_password"]
        self.project = plan["compose"]["project"]
        self.service = plan["compose"]["service"]
        self.generation = p["generation"] or "diagnosis"
        self.docker_host = p["docker_host"]
        self.env = container_env(api)
        self.api_ip = (container_facts(api).get("address"))
        self.api_started = (api.attrs.get("State") or {}).get("StartedAt")
        self.api_url = p["api_url"]
        self.origins = plan["cors"]["required"]
        self.burst = p["burst"]
        self.watch_seconds = p["watch_seconds"]
        self.redis_wait_s = p["redis_wait_seconds"]
        self.api_replicas = p["api_replicas"]
        # What the api runs with, read once by the model for every probe.
        self.settings = app.effective_settings(self.env, self.generation)
        hosts = (self.settings.get("allowed_hosts") or {}).get("value") or []
        self.host_header = p["host_header"] or next((h for h in hosts if h and "*" not in h), None)
        exposed = sorted((api.attrs.get("Config") or {}).get("ExposedPorts") or {})
        self.container_port = int(exposed[0].split("/")[0]) if exposed else _int(self.env.get("API_PORT")) or 8001


def step(results: Mapping[str, Any], name: str, failed: bool) -> str:
    if name not in results:
        return "skipped"
    return "failed" if failed else "passed"


def verify(p: Mapping[str, Any], client: Any) -> dict[str, Any]:
    """Run every enabled probe and judge; returns the module's result (never exits)."""
    plan = p["plan"]
    api = service_container(client, plan["compose"]["project"], plan["compose"]["service"])
    ctx = Verification(p, client, api)
    jobs: dict[str, Callable[[], Any]] = {}
    if p["redis"]:
        jobs["redis"] = lambda: probe_redis(ctx)
    if p["mongo"]:
        jobs["mongo"] = lambda: probe_mongo(ctx)
    if p["http"]:
        jobs["http"] = lambda: probe_http(ctx)
    if p["rate_limit_probe"] == "behaviour":
        jobs["rate_limit"] = lambda: probe_rate_limit(ctx)
    if p["logs"]:
        jobs["logs"] = lambda: probe_logs(ctx)
    started = time.monotonic()
    probes = run_all(jobs)
    errors = {name: r["error"] for name, r in probes.items() if isinstance(r, dict) and "error" in r and len(r) == 1}

    symptoms: list[dict[str, Any]] = []
    symptoms += redis_symptoms(probes.get("redis") or {}) if "redis" not in errors else []
    symptoms += mongo_symptoms(probes.get("mongo") or {}) if "mongo" not in errors else []
    symptoms += http_symptoms(probes.get("http") or {}) if "http" not in errors else []
    symptoms += rate_symptoms(probes.get("rate_limit") or {}, plan)
    symptoms += log_symptoms(probes.get("logs") or {}) if "logs" not in errors else []
    for name, error in errors.items():
        if name != "rate_limit":
            symptoms.append(symptom("PROBE_FAILED", "redis" if name == "redis" else name,
                                    "the %s probe could not run: %s" % (name, error), "critical", probe=name))

    raw = Raw(container=ctx.env)
    facts = {"api": container_facts(api), "containers": [container_facts(c) for c in [api]],
             "app": {"generation": ctx.generation}}
    baseline = list(p["causes"] or [])
    if p["judge"]:
        # After a change the container is judged anew; what the change could not
        # touch (application code, the operator's share) still stands.
        kept = [c for c in baseline if c.get("fixable") != "toolkit" and c["code"] not in ("CONTAINER_ENV_DRIFT",)]
        baseline = merge(judge_running(plan, ctx.password, facts, raw), kept)
    causes = attach(baseline, symptoms)

    codes = {s["code"] for s in symptoms}
    cause_codes = {c["code"] for c in causes}
    results = {
        "container_env": "failed" if cause_codes & {"CONTAINER_NOT_AS_PLANNED", "CONTAINER_ENV_DRIFT",
                                                    "COMPOSE_SHADOWS_ENV_FILE"} else "passed",
        "containers": "failed" if cause_codes & {"CONTAINER_UNHEALTHY", "CONTAINER_RESTARTING",
                                                 "CONTAINER_MISSING"} else "passed",
        "redis_auth": step(probes, "redis", bool({"REDIS_AUTH_FAILED", "REDIS_UNREACHABLE", "REDIS_URL_LOCALHOST",
                                                  "REDIS_URL_PASSWORD_MISMATCH", "REDIS_URL_UNPARSEABLE",
                                                  "PROBE_FAILED"} & codes)),
        "redis_clients": step(probes, "redis", "REDIS_NO_API_CONNECTION" in codes),
        "mongo_ping": step(probes, "mongo", not (probes.get("mongo") or {}).get("ok")),
        "health": step(probes, "http", bool({"HTTP_UNREACHABLE", "HTTP_STATUS_UNEXPECTED",
                                             "HEALTH_CHECK_UNHEALTHY"} & codes)),
        "cors": step(probes, "http", "CORS_PREFLIGHT_FAILED" in codes),
        "burst": step(probes, "http", "BURST_NON_200" in codes),
        "rate_limit": step(probes, "rate_limit", bool({"RATE_LIMIT_NOT_AS_PLANNED", "RATE_LIMIT_PROBE_FAILED"}
                                                      & codes)),
        "logs": step(probes, "logs", any(s["code"].startswith("LOG_SIGNATURE_") for s in symptoms)),
    }
    fail_on = set(p["fail_on"])
    failing = [c for c in causes if c["severity"] in fail_on]
    failed_steps = [k for k, v in results.items() if v == "failed"]
    host = plan.get("host", "?")
    if failing:
        msg = "verification failed on %s: %s (%s)" % (host, ", ".join(failed_steps) or "causes",
                                                      ", ".join(c["code"] for c in failing))
    else:
        msg = "verification passed on %s: %s" % (host, ", ".join(k for k, v in results.items() if v == "passed"))
    return {
        "changed": False,
        "failed_verification": bool(failing),
        "steps": results,
        "causes": causes,
        "symptoms": symptoms,
        "probes": probes,
        "host_header": ctx.host_header,
        "api": {"id": api.id, "started_at": ctx.api_started, "address": ctx.api_ip},
        "seconds": round(time.monotonic() - started, 2),
        "msg": msg,
    }
