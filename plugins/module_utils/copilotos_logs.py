# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log signature matching for container_logs: pure helpers, no Docker calls.

A pattern is a dict ``{name, regex?, event?, level?, severity?}``:

* ``regex`` is searched (case-sensitive unless it carries ``(?i)``) in the raw line;
* ``event`` is a case-insensitive substring of the JSON line's ``event``
  (or ``message``/``msg``) field;
* ``level`` is one level or a list of levels, compared case-insensitively
  with the JSON ``level`` (or ``levelname``/``severity``) field.

Every condition a pattern gives must hold. ``event``/``level`` only match
JSON lines; a line can match several patterns and counts once for each.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from typing import Any

from .copilotos_common import finding, mask_text, mask_url_passwords
from .copilotos_docker import (
    DOCKER_ARGS,
    DockerError,
    DockerException,
    NotFound,
    get_client,
    service_container,
)

EXCERPT_LIMIT = 200

# ``area`` says which part of the stack a signature is a symptom of (the
# causes of copilotos_causes take their symptoms by area).
DEFAULT_PATTERNS: list[dict[str, Any]] = [
    {"name": "redis_connection_failed", "event": "Redis cache connection failed", "severity": "critical",
     "area": "redis"},
    {"name": "connection_refused", "regex": r"Error 111\b|Connection refused|ECONNREFUSED", "severity": "critical",
     "area": "redis"},
    {
        "name": "redis_auth_failed",
        "regex": r"NOAUTH|WRONGPASS|invalid (?:username-)?password|Authentication required",
        "severity": "critical",
        "area": "redis",
    },
    {
        "name": "cors_rejected",
        "regex": r"(?i)disallowed cors origin|blocked by cors policy"
        r"|cors\b.{0,60}\b(?:reject|denied|disallowed|not allowed)",
        "severity": "medium",
        "area": "cors",
    },
    {"name": "upstream_timeout", "regex": r"ReadTimeout|ConnectTimeout", "severity": "medium", "area": "saptiva"},
    {
        "name": "mongo_server_selection_timeout",
        "regex": r"ServerSelectionTimeoutError|No servers available",
        "severity": "medium",
        "area": "mongo",
    },
    {"name": "pool_exhausted", "regex": r"(?i)pool (?:is )?exhausted|WaitQueueTimeoutError", "severity": "medium",
     "area": "mongo"},
]

_EVENT_KEYS = ("event", "message", "msg")
_LEVEL_KEYS = ("level", "levelname", "severity")
_CRITICAL_HINT = re.compile(r"redis|auth|password|noauth|wrongpass", re.IGNORECASE)


class PatternError(ValueError):
    pass


def normalise_patterns(patterns: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Validate patterns, compile regexes, fill the default severity."""
    out = []
    for index, raw in enumerate(patterns if patterns is not None else DEFAULT_PATTERNS):
        if not isinstance(raw, dict) or not raw.get("name"):
            raise PatternError("pattern #%d has no name" % (index + 1))
        name = str(raw["name"])
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise PatternError("pattern name %r must be letters, digits and underscores" % name)
        if not any(raw.get(k) for k in ("regex", "event", "level")):
            raise PatternError("pattern %r needs regex, event or level" % name)
        try:
            regex = re.compile(raw["regex"]) if raw.get("regex") else None
        except re.error as exc:
            raise PatternError("pattern %r has an invalid regex: %s" % (name, exc)) from None
        level = raw.get("level")
        levels = {str(x).lower() for x in (level if isinstance(level, list) else [level])} if level else None
        severity = raw.get("severity") or ("critical" if _CRITICAL_HINT.search(name) else "medium")
        out.append(
            {
                "name": name,
                "regex": regex,
                "event": str(raw["event"]).lower() if raw.get("event") else None,
                "levels": levels,
                "severity": severity,
                "area": str(raw.get("area") or "logs"),
            }
        )
    return out


def parse_json_line(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _field(doc: dict[str, Any] | None, keys: tuple[str, ...]) -> str | None:
    if not doc:
        return None
    for key in keys:
        if doc.get(key) is not None:
            return str(doc[key])
    return None


def line_signatures(text: str, patterns: list[dict[str, Any]]) -> tuple[list[str], str | None, str | None]:
    """Names of the patterns ``text`` matches, plus its JSON level and event."""
    doc = parse_json_line(text)
    level, event = _field(doc, _LEVEL_KEYS), _field(doc, _EVENT_KEYS)
    names = []
    for pattern in patterns:
        if pattern["event"] is not None and (event is None or pattern["event"] not in event.lower()):
            continue
        if pattern["levels"] is not None and (level is None or level.lower() not in pattern["levels"]):
            continue
        if pattern["regex"] is not None and not pattern["regex"].search(text):
            continue
        names.append(pattern["name"])
    return names, level, event


def excerpt(text: str, secrets: list[str] | None = None, limit: int = EXCERPT_LIMIT) -> str:
    """Mask first (so a cut never leaves half a secret), then bound the length."""
    masked = mask_url_passwords(mask_text(" ".join(text.split()), secrets or []))
    return masked if len(masked) <= limit else masked[: limit - 3] + "..."


def split_timestamp(line: str) -> tuple[str, str]:
    """``2025-09-30T20:19:00.585060123Z message`` -> (timestamp, message)."""
    stamp, sep, rest = line.partition(" ")
    if sep and stamp[:4].isdigit() and "T" in stamp:
        return stamp, rest
    return "", line


_STAMP = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)


def to_epoch_ns(stamp: str) -> int | None:
    """RFC 3339 with up to nanoseconds (as Docker prints) to integer epoch nanoseconds."""
    match = _STAMP.match(stamp.strip())
    if not match:
        return None
    tz = match.group("tz") or "Z"
    tz = "+00:00" if tz == "Z" else (tz if ":" in tz else tz[:3] + ":" + tz[3:])
    base = datetime.fromisoformat(match.group("base").replace(" ", "T") + tz)
    frac = (match.group("frac") or "").ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(frac)


def parse_since(value: Any) -> int:
    """An ISO timestamp or epoch seconds (int, float or numeric string) -> epoch ns."""
    text = str(value).strip()
    try:
        return round(float(text) * 1_000_000_000)
    except (ValueError, OverflowError):
        pass
    ns = to_epoch_ns(text)
    if ns is None:
        raise ValueError("since %r is neither an ISO timestamp, epoch seconds nor container_start" % text)
    return ns


def run_start_ns(created: str | None, started_at: str | None, finished_at: str | None) -> int:
    """Where the container's current run begins, for ``since: container_start``.

    Docker stamps ``State.StartedAt`` a few milliseconds *after* the process
    wrote its first lines, so StartedAt itself would miss them. Instead: the
    end of the previous run (``FinishedAt``, kept while running again) when
    the container was restarted, else its creation. A stopped container (its
    FinishedAt is after StartedAt) falls back to StartedAt minus one second.
    """

    def valid(stamp: str | None) -> int | None:
        ns = to_epoch_ns(stamp) if stamp else None
        return ns if ns is not None and ns > 0 else None

    created_ns, started_ns, finished_ns = valid(created), valid(started_at), valid(finished_at)
    if started_ns is None:
        return created_ns or 0
    if finished_ns is not None and finished_ns <= started_ns and (created_ns is None or finished_ns > created_ns):
        return finished_ns
    if created_ns is not None and created_ns <= started_ns and (finished_ns is None or finished_ns <= started_ns):
        return created_ns
    return max(0, started_ns - 1_000_000_000)


def ns_to_iso(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac


class LogScanner:
    """Feed log chunks (Docker ``timestamps=True`` output); collect matches and counts."""

    def __init__(
        self, patterns: list[dict[str, Any]], since_ns: int, max_matches: int = 20, secrets: list[str] | None = None
    ) -> None:
        self.patterns = patterns
        self.since_ns = since_ns
        self.max_matches = max_matches
        self.secrets = secrets or []
        self.matches: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.scanned_lines = 0
        self.max_ns = since_ns - 1
        self._seen: dict[str, int] = {}
        self.first_seen: dict[str, str] = {}
        self.last_seen: dict[str, str] = {}

    def feed(self, chunk: bytes | str) -> None:
        text = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
        for raw in text.splitlines():
            self.feed_line(raw.rstrip("\r"))
        self.prune()

    def next_since(self) -> int:
        """Whole epoch seconds to ask Docker for next; one second of overlap for late lines."""
        return max(self.since_ns, self.max_ns) // 1_000_000_000 - 1

    def prune(self) -> None:
        """Forget lines older than the next poll's overlap window."""
        floor = self.next_since() * 1_000_000_000
        self._seen = {k: v for k, v in self._seen.items() if v >= floor}

    def feed_line(self, raw: str) -> None:
        if not raw.strip():
            return
        stamp, message = split_timestamp(raw)
        ns = to_epoch_ns(stamp) if stamp else None
        if ns is not None:
            # Docker's ``since`` has whole-second precision and polls overlap:
            # skip what is older than asked for or was already scanned.
            if ns < self.since_ns or raw in self._seen:
                return
            self._seen[raw] = ns
            self.max_ns = max(self.max_ns, ns)
            if len(self._seen) > 20000:
                self.prune()
        self.scanned_lines += 1
        names, level, event = line_signatures(message, self.patterns)
        for name in names:
            self.counts[name] = self.counts.get(name, 0) + 1
            self.first_seen.setdefault(name, stamp)
            self.last_seen[name] = stamp
            if len(self.matches) < self.max_matches:
                self.matches.append(
                    {
                        "time": stamp or None,
                        "signature": name,
                        "level": level,
                        "event": excerpt(event, self.secrets) if event is not None else None,
                        "excerpt": excerpt(message, self.secrets),
                    }
                )

    def severity(self, name: str) -> str:
        for pattern in self.patterns:
            if pattern["name"] == name:
                return str(pattern["severity"])
        return "medium"

    def summary(self) -> str:
        return ", ".join("%s=%d" % (k, v) for k, v in sorted(self.counts.items()))


def read_logs(container, since_seconds, scanner):
    """Stream the container's logs since whole seconds into the scanner, line by line."""
    pending = b""
    stream = container.logs(
        stdout=True, stderr=True, timestamps=True, since=max(1, since_seconds), stream=True, follow=False
    )
    for chunk in stream:
        pending += chunk
        if b"\n" in pending:
            complete, _sep, pending = pending.rpartition(b"\n")
            scanner.feed(complete + b"\n")
    if pending:
        scanner.feed(pending)


def run_probe(p: dict[str, Any], client: Any = None) -> dict[str, Any]:
    """The log scan on a module's parameters; raises ValueError (bad input) or DockerError, never exits."""
    try:
        patterns = normalise_patterns(p["patterns"])
    except PatternError as exc:
        raise ValueError("container_logs: %s" % exc) from None
    since_ns = 0
    if p["since"] != "container_start":
        try:
            since_ns = parse_since(p["since"])
        except ValueError as exc:
            raise ValueError("container_logs: %s" % exc) from None
    client = client or get_client(p["docker_host"])
    if p["container"]:
        where = "container %s" % p["container"]
        try:
            container = client.containers.get(p["container"])
        except NotFound:
            raise DockerError("no container named %r" % p["container"]) from None
    else:
        where = "service %s of Compose project %s" % (p["service"], p["project_name"])
        container = service_container(client, p["project_name"], p["service"])

    if p["since"] == "container_start":
        state = container.attrs.get("State") or {}
        since_ns = run_start_ns(container.attrs.get("Created"), state.get("StartedAt"), state.get("FinishedAt"))

    scanner = LogScanner(patterns, since_ns, p["max_matches"], p["secrets"] or [])
    try:
        read_logs(container, since_ns // 1_000_000_000, scanner)
        deadline = time.monotonic() + max(0, p["watch_seconds"])
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            read_logs(container, scanner.next_since(), scanner)
    except DockerException as exc:
        raise DockerError("cannot read logs of %s: %s" % (where, " ".join(str(exc).split())[:200])) from None

    findings = []
    for name, count in sorted(scanner.counts.items()):
        sample = next((m["excerpt"] for m in scanner.matches if m["signature"] == name), None)
        findings.append(
            finding(
                "LOG_SIGNATURE_%s" % name.upper(),
                scanner.severity(name),
                "%d log line(s) of %s match %s since %s" % (count, where, name, ns_to_iso(since_ns)),
                count=count,
                area=next((q["area"] for q in patterns if q["name"] == name), "logs"),
                first=scanner.first_seen.get(name),
                last=scanner.last_seen.get(name),
                sample=sample,
            )
        )
    result = {
        "changed": False,
        "container": container.name,
        "matches": scanner.matches,
        "counts": scanner.counts,
        "scanned_lines": scanner.scanned_lines,
        "since": ns_to_iso(since_ns),
        "findings": findings,
    }
    if scanner.counts:
        result["msg"] = "container_logs: %s: %d signature match(es) since %s: %s" % (
            where,
            sum(scanner.counts.values()),
            result["since"],
            scanner.summary(),
        )
    else:
        result["msg"] = "container_logs: %s: no error signature in %d line(s) since %s" % (
            where,
            scanner.scanned_lines,
            result["since"],
        )
    return result


MODULE_KWARGS: dict[str, Any] = dict(
    argument_spec=dict(
        project_name=dict(type="str"),
        service=dict(type="str"),
        container=dict(type="str"),
        since=dict(type="str", default="container_start"),
        patterns=dict(type="list", elements="dict"),
        watch_seconds=dict(type="int", default=0),
        max_matches=dict(type="int", default=20),
        mode=dict(type="str", default="enforce", choices=["enforce", "audit"]),
        secrets=dict(type="list", elements="str", no_log=True),
        **DOCKER_ARGS,
    ),
    required_one_of=[("service", "container")],
    mutually_exclusive=[("service", "container")],
    required_by={"service": "project_name"},
)
