# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance notifications: the webhook payload, built from names only.

Pure functions (no I/O), shared by ``library/copilotos_notify.py`` and the
unit tests. The payload is Slack-compatible: a ``text`` field (what a Slack
incoming webhook shows), one legacy attachment with ``fields`` (title/value
pairs Slack renders as a table), and the same data, typed, under
``copilotos`` for receivers that are not Slack (Slack ignores it).

No value of a managed key ever enters a payload: ``keys`` are names only, and
``secret_paths`` refuses a payload in which any string still holds a secret
(plain or percent-encoded), naming where, never what.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .copilotos_common import mask_url_passwords, secret_paths

EVENTS = ("before_recreate", "after_verify")
SCHEMA_VERSION = 1
RESULT_COLORS = {"remediated": "good", "compliant": "good", "rolled_back": "warning", "failed": "danger",
                 "refused": "warning"}
_KEY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class NotifyError(ValueError):
    """The payload cannot be built or must not be sent (a secret in it)."""


def key_names(keys: Iterable[Any] | None) -> list[str]:
    """Sorted, distinct env key names; anything that is not a plain name is refused.

    A value slipped into the list (``KEY=value``, a URL) is not a name and
    fails here, before it can reach a payload.
    """
    names: list[str] = []
    for key in keys or []:
        text = str(key)
        if not _KEY_NAME.match(text):
            raise NotifyError("keys must be env key names; item %d is not one" % len(names))
        names.append(text)
    return sorted(set(names))


def _fields(pairs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [{"title": title, "value": str(value), "short": len(str(value)) <= 40} for title, value in pairs]


def build_payload(event: str, host: str, facts: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body for ``event`` on ``host``.

    ``facts`` for ``before_recreate``: ``keys`` (names), ``expected_downtime_s``,
    ``max_downtime_s``, optional ``project``, ``project_dir``, ``user``,
    ``run_id``. For ``after_verify``: ``result``, ``rolled_back``,
    ``report`` (path on the controller), ``keys``, ``recreated``,
    ``failure`` (one line, already masked), and the optional ones above.
    """
    if event not in EVENTS:
        raise NotifyError("event must be one of %s" % ", ".join(EVENTS))
    keys = key_names(facts.get("keys"))
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event": event,
        "host": host,
        "project": facts.get("project"),
        "project_dir": facts.get("project_dir"),
        "user": facts.get("user"),
        "run_id": facts.get("run_id"),
        "keys": keys,
    }
    shown_keys = ", ".join(keys) or "none"
    where = host + (" (%s)" % data["project"] if data["project"] else "")
    if event == "before_recreate":
        expected = int(facts.get("expected_downtime_s") or 0)
        bound = int(facts.get("max_downtime_s") or 0)
        data.update(expected_downtime_s=expected, max_downtime_s=bound)
        text = ("copilotos maintenance on %s: recreating the api now to apply %s; expected downtime about %d s "
                "(rolled back if not healthy within %d s)" % (where, shown_keys, expected, bound))
        pairs: list[tuple[str, Any]] = [("Host", host), ("Keys to change", shown_keys),
                                        ("Expected downtime", "%d s" % expected), ("Rollback after", "%d s" % bound)]
        color = "warning"
    else:
        result = str(facts.get("result") or "failed")
        rolled_back = bool(facts.get("rolled_back")) or result == "rolled_back"
        failure = facts.get("failure")
        data.update(result=result, rolled_back=rolled_back, recreated=bool(facts.get("recreated")),
                    report=facts.get("report"), failure=mask_url_passwords(failure) if failure else None)
        text = "copilotos maintenance on %s: %s%s; keys %s; report %s" % (
            where, result.replace("_", " "), " (the backup was restored)" if rolled_back else "", shown_keys,
            data["report"] or "not written")
        if data["failure"]:
            text += "; failure: %s" % data["failure"]
        pairs = [("Host", host), ("Result", result), ("Rolled back", "yes" if rolled_back else "no"),
                 ("Keys", shown_keys), ("Report", data["report"] or "not written")]
        color = RESULT_COLORS.get(result, "danger")
    return {
        "text": text,
        "attachments": [{"fallback": text, "color": color, "fields": _fields(pairs)}],
        "copilotos": data,
    }


def guarded_payload(event: str, host: str, facts: Mapping[str, Any], secrets: Iterable[str | None]) -> dict[str, Any]:
    """``build_payload``, refused (NotifyError naming the place) when it would carry a secret."""
    payload = build_payload(event, host, facts)
    leaks = secret_paths(payload, list(secrets), "payload")
    if leaks:
        raise NotifyError("the notification would contain a secret value at %s; not sent" % ", ".join(leaks))
    return payload
