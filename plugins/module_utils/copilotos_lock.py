# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-host run lock (a JSON file created with O_EXCL), shared by run_lock and copilotos_state."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any


class LockBusy(Exception):
    """Another run holds the lock; the message names it."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


class LockError(Exception):
    """The lock cannot be written (read-only or full filesystem, permissions)."""


def read_lock(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"unreadable": True}
    return data if isinstance(data, dict) else {"unreadable": True}


def is_stale(holder: dict[str, Any], stale_after: int, now: float | None = None) -> tuple[bool, str]:
    """Whether a lock may be reclaimed, and why.

    A holder's pid is only meaningful where it ran: the check applies when the
    lock was taken from this machine (a local run, or a controller that is
    also the target).
    """
    if holder.get("unreadable"):
        return True, "unreadable lock file"
    age = (time.time() if now is None else now) - float(holder.get("epoch", 0) or 0)
    if age > stale_after:
        return True, "older than %d s" % stale_after
    if holder.get("host") == socket.gethostname() and holder.get("pid"):
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return True, "process %s no longer exists" % holder["pid"]
        except (PermissionError, ValueError, OverflowError):
            return False, ""
    return False, ""


def describe(holder: dict[str, Any]) -> str:
    return "%s@%s pid %s since %s (%s)" % (
        holder.get("user"),
        holder.get("host"),
        holder.get("pid"),
        holder.get("started"),
        holder.get("playbook"),
    )


def holder_record(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": owner.get("user"),
        "host": owner.get("host"),
        "pid": owner.get("pid"),
        "playbook": owner.get("playbook"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "epoch": time.time(),
    }


def is_mine(holder: dict[str, Any] | None, owner: dict[str, Any]) -> bool:
    return holder is not None and holder.get("pid") == owner.get("pid") and holder.get("host") == owner.get("host")


def acquire(path: str, owner: dict[str, Any], stale_after: int, check_mode: bool) -> dict[str, Any]:
    """Take the lock (or test it in check mode).

    Returns ``{"holder", "reclaimed", "reclaim_reason", "taken"}``; raises
    LockBusy or LockError. ``taken`` is True only when this call created the
    file (check mode and a lock already ours never take it).
    """
    holder = read_lock(path)
    mine = is_mine(holder, owner)
    reclaimed, why = False, ""
    if holder is not None and not mine:
        stale, why = is_stale(holder, stale_after)
        if not stale:
            raise LockBusy("another copilotos run holds the lock %s: %s" % (path, describe(holder)), holder)
        reclaimed = True
        if not check_mode:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    if check_mode or mine:
        return {"holder": holder if mine else holder_record(owner), "reclaimed": reclaimed,
                "reclaim_reason": why, "taken": False}
    if not os.path.isdir(os.path.dirname(path) or "."):
        raise LockError("lock directory %s does not exist" % os.path.dirname(path))
    me = holder_record(owner)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise LockBusy("another copilotos run took the lock %s just now: %s"
                       % (path, describe(read_lock(path) or {})), read_lock(path) or {}) from None
    except OSError as exc:
        raise LockError("cannot create the lock %s: %s; nothing was changed" % (path, exc.strerror or exc)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        os.unlink(path)
        raise LockError("cannot write the lock %s: %s; nothing was changed" % (path, exc.strerror or exc)) from None
    return {"holder": me, "reclaimed": reclaimed, "reclaim_reason": why, "taken": True}


def release(path: str, owner: dict[str, Any], check_mode: bool) -> dict[str, Any] | None:
    """Remove the lock when it is ours; returns the other holder, if any."""
    holder = read_lock(path)
    if is_mine(holder, owner):
        if not check_mode:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return None
    return holder
