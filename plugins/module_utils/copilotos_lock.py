# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-host run lock (a JSON file created with O_EXCL), shared by run_lock and copilotos_state.

The holder is the controller's ansible-playbook process: its user, host name,
machine id, boot id and pid. Whether that process still exists can only be
told on the machine it ran on:

* the target tells it itself when the controller is the same machine (same
  machine id, or the same host name for a lock that carries no machine id);
* otherwise the controller tells it (the ``copilotos_state`` action plugin
  checks its own process table and boot id, then *vouches* for the holder:
  ``acquire(..., vouched=holder_identity(holder))``);
* otherwise, only the lock's age reclaims it (``stale_after``).
"""

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


IDENTITY_KEYS = ("machine_id", "boot_id", "host", "pid", "epoch")


def _read_id(*paths: str) -> str:
    for path in paths:
        try:
            with open(path, encoding="ascii") as handle:
                value = handle.read().strip()
        except (OSError, ValueError):
            continue
        if value:
            return value
    return ""


def machine_id() -> str:
    """This machine's id (systemd's /etc/machine-id, or D-Bus's), or "" when it has none."""
    return _read_id("/etc/machine-id", "/var/lib/dbus/machine-id")


def boot_id() -> str:
    """This boot's id (Linux), or "": a pid is only meaningful within one boot."""
    return _read_id("/proc/sys/kernel/random/boot_id")


def same_machine(holder: dict[str, Any], here_machine_id: str, here_host: str) -> bool:
    """Whether the holder's process ran on the machine described by (machine id, host name)."""
    if holder.get("machine_id") and here_machine_id:
        return bool(holder["machine_id"] == here_machine_id)
    return bool(holder.get("host")) and holder.get("host") == here_host


def process_gone(holder: dict[str, Any], here_boot_id: str) -> str:
    """Why the holder's process no longer exists on this machine, or "" when it may (call on its machine only)."""
    if holder.get("boot_id") and here_boot_id and holder["boot_id"] != here_boot_id:
        return "its machine rebooted since (process %s)" % holder.get("pid")
    try:
        pid = int(holder.get("pid") or 0)
    except (TypeError, ValueError):
        return ""
    if pid <= 0:
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "process %d no longer exists" % pid
    except (PermissionError, OverflowError):
        return ""
    return ""


def holder_identity(holder: dict[str, Any]) -> dict[str, Any]:
    """The fields that name one lock holder exactly (what a controller vouches for)."""
    return {key: holder.get(key) for key in IDENTITY_KEYS}


def is_stale(holder: dict[str, Any], stale_after: int, now: float | None = None,
             vouched: dict[str, Any] | None = None) -> tuple[bool, str]:
    """Whether a lock may be reclaimed, and why.

    A holder's pid is only meaningful where it ran: this checks it when the
    lock was taken from this machine. ``vouched`` is a holder identity the
    controller checked on its own machine and found dead; it reclaims the lock
    only if the file still names exactly that holder.
    """
    if holder.get("unreadable"):
        return True, "unreadable lock file"
    age = (time.time() if now is None else now) - float(holder.get("epoch", 0) or 0)
    if age > stale_after:
        return True, "older than %d s" % stale_after
    if vouched and holder_identity(holder) == holder_identity(vouched):
        return True, "its controller %s reports process %s gone" % (holder.get("host"), holder.get("pid"))
    if same_machine(holder, machine_id(), socket.gethostname()):
        gone = process_gone(holder, boot_id())
        if gone:
            return True, gone
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
        "machine_id": owner.get("machine_id") or "",
        "boot_id": owner.get("boot_id") or "",
        "pid": owner.get("pid"),
        "playbook": owner.get("playbook"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "epoch": time.time(),
    }


def is_mine(holder: dict[str, Any] | None, owner: dict[str, Any]) -> bool:
    return (holder is not None and holder.get("pid") == owner.get("pid") and holder.get("host") == owner.get("host")
            and (holder.get("machine_id") or "") == (owner.get("machine_id") or ""))


def acquire(path: str, owner: dict[str, Any], stale_after: int, check_mode: bool,
            vouched: dict[str, Any] | None = None) -> dict[str, Any]:
    """Take the lock (or test it in check mode).

    ``vouched``: a holder identity the controller found dead (see ``is_stale``).

    Returns ``{"holder", "reclaimed", "reclaim_reason", "taken"}``; raises
    LockBusy or LockError. ``taken`` is True only when this call created the
    file (check mode and a lock already ours never take it).
    """
    holder = read_lock(path)
    mine = is_mine(holder, owner)
    reclaimed, why = False, ""
    if holder is not None and not mine:
        stale, why = is_stale(holder, stale_after, vouched=vouched)
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
