# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by every copilotos module: masking, findings, errors, the one atomic write."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

MASK = "********"

SEVERITIES = ("critical", "medium", "low", "info")
# The verification steps, in the order they run and are reported (copilotos_verify, the report).
VERIFY_STEPS = ("container_env", "containers", "redis_auth", "redis_clients", "mongo_ping", "health", "cors", "burst",
                "rate_limit", "logs")


def secret_forms(secrets: Iterable[str | None]) -> list[str]:
    """Every form in which a secret could leak: plain and percent-encoded.

    Longest first, so a replacement never leaves a tail of a longer secret.
    Empty or very short values are ignored: masking one character would
    destroy the text without protecting anything.
    """
    forms: set[str] = set()
    for value in secrets:
        if not value or len(value) < 3:
            continue
        forms.add(value)
        forms.add(quote(value, safe=""))
        forms.add(quote(value, safe="!~*'()"))
    return sorted(forms, key=len, reverse=True)


def mask_text(text: Any, secrets: Iterable[str | None]) -> str:
    """Return ``text`` as a string with every secret form replaced by MASK."""
    out = "" if text is None else str(text)
    for form in secret_forms(secrets):
        out = out.replace(form, MASK)
    return out


_URL_PASSWORD = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<post>@)")


def mask_url_passwords(text: Any) -> str:
    """Mask any ``scheme://user:password@`` password found in free text."""
    return _URL_PASSWORD.sub(lambda m: m.group("pre") + MASK + m.group("post"), "" if text is None else str(text))


def finding(code: str, severity: str, message: str, **evidence: Any) -> dict[str, Any]:
    """Build one finding with a stable ``code``.

    ``severity`` is one of SEVERITIES; ``evidence`` must already be masked.
    """
    if severity not in SEVERITIES:
        raise ValueError("unknown severity %r" % severity)
    return {"code": code, "severity": severity, "message": message, "evidence": evidence}


def one_line(text: Any, limit: int = 300) -> str:
    """Collapse an error text to one line of bounded length."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def atomic_write(path: str, data: bytes, mode: int = 0o600, uid: int | None = None, gid: int | None = None) -> None:
    """Replace ``path`` atomically: temp file in the same directory, fsync, rename, fsync dir.

    The temp file gets ``mode`` and, when given, ``uid``/``gid`` before the
    rename, so the file never exists with looser permissions or another
    owner. Raises OSError (the temp file is removed) when that fails.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if uid is not None and gid is not None:
                stat = os.fstat(handle.fileno())
                if (stat.st_uid, stat.st_gid) != (uid, gid):
                    os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ModuleFailure(Exception):
    """How a module's ``run(module)`` stops: only ``finish`` (in ``main``) turns it into ``fail_json``."""

    def __init__(self, msg: str, **facts: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.facts = facts


def finish(module: Any, run: Callable[[Any], dict[str, Any]],
           fail_if: Callable[[dict[str, Any]], bool] | None = None) -> None:
    """The one module contract: ``run(module)`` returns the result or raises ModuleFailure; this exits.

    ``fail_if(result)``: a result that still fails the task, with every fact
    (an enforce-mode check that found a critical problem).
    """
    try:
        result = run(module)
    except ModuleFailure as exc:
        module.fail_json(msg=exc.msg, **exc.facts)
        raise AssertionError("fail_json returned") from None  # it exits; this tells the type checker
    if fail_if is not None and fail_if(result):
        module.fail_json(**result)
    module.exit_json(**result)


def secret_paths(value: Any, secrets: Iterable[str | None], path: str = "value") -> list[str]:
    """Paths (``run.findings[0].evidence.url``) of the strings of ``value`` that hold a secret.

    Plain and percent-encoded forms count, in values and in mapping keys. The
    paths name where, never what.
    """
    forms = secret_forms(secrets)
    if not forms:
        return []
    found: list[str] = []

    def walk(item: Any, where: str) -> None:
        if isinstance(item, Mapping):
            for key, sub in item.items():
                if any(form in str(key) for form in forms):
                    found.append("%s (a key)" % where)
                    walk(sub, "%s[...]" % where)
                else:
                    walk(sub, "%s.%s" % (where, key))
        elif isinstance(item, (list, tuple)):
            for index, sub in enumerate(item):
                walk(sub, "%s[%d]" % (where, index))
        elif item is not None and not isinstance(item, (bool, int, float)):
            text = str(item)
            if any(form in text for form in forms):
                found.append(where)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            if str(item) in forms:
                found.append(where)

    walk(value, path)
    return found
