#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_lock
short_description: Per-host lock against concurrent copilotos runs
description:
  - Takes or releases a lock file on the target. A second run fails fast and names the holder
    (user, controller host, process id, start time, playbook).
  - A stale lock is reclaimed, with a warning, when its holder's process no longer exists on this
    machine (same controller host) or when it is older than O(stale_after) seconds.
  - The lock is created with C(O_CREAT|O_EXCL), so two runs can never both take it.
version_added: "0.1.0"
author: copilotos-remediation contributors
options:
  path:
    description: The lock file.
    type: path
    required: true
  state:
    description: C(present) takes the lock, C(absent) releases it (only when this run holds it).
    type: str
    choices: [present, absent]
    default: present
  owner:
    description: Who takes the lock; C(pid) must be the controller's ansible-playbook process id.
    type: dict
    required: true
  stale_after:
    description: Seconds after which any lock is considered stale.
    type: int
    default: 3600
attributes:
  check_mode:
    support: full
    details: In check mode the lock is only tested, never written.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Take the run lock
  run_lock:
    path: /srv/copilotos/.copilotos-remediation.lock
    owner: "{{ lookup('copilotos_controller') }}"
"""

RETURN = r"""
holder:
  description: The lock holder after the call (or the one found, when the lock is busy).
  returned: always
  type: dict
reclaimed:
  description: Whether a stale lock was removed.
  returned: always
  type: bool
"""

import json
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule


def read_lock(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"unreadable": True}


def is_stale(holder: dict, stale_after: int) -> tuple[bool, str]:
    if holder.get("unreadable"):
        return True, "unreadable lock file"
    age = time.time() - float(holder.get("epoch", 0))
    if age > stale_after:
        return True, "older than %d s" % stale_after
    if holder.get("host") == socket.gethostname() and holder.get("pid"):
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return True, "process %s no longer exists" % holder["pid"]
        except PermissionError:
            return False, ""
    return False, ""


def describe(holder: dict) -> str:
    return "%s@%s pid %s since %s (%s)" % (
        holder.get("user"),
        holder.get("host"),
        holder.get("pid"),
        holder.get("started"),
        holder.get("playbook"),
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            owner=dict(type="dict", required=True),
            stale_after=dict(type="int", default=3600),
        ),
        supports_check_mode=True,
    )
    path, owner = module.params["path"], module.params["owner"]
    me = {
        "user": owner.get("user"),
        "host": owner.get("host"),
        "pid": owner.get("pid"),
        "playbook": owner.get("playbook"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "epoch": time.time(),
    }
    holder = read_lock(path)
    mine = holder is not None and holder.get("pid") == me["pid"] and holder.get("host") == me["host"]

    if module.params["state"] == "absent":
        if mine and not module.check_mode:
            os.unlink(path)
        # Releasing is bookkeeping, not a change of the host's configuration.
        module.exit_json(changed=False, holder=None if mine else holder, reclaimed=False)

    reclaimed = False
    if holder is not None and not mine:
        stale, why = is_stale(holder, module.params["stale_after"])
        if not stale:
            module.fail_json(
                msg="another copilotos run holds the lock %s: %s" % (path, describe(holder)), holder=holder
            )
        module.warn("reclaiming a stale lock %s (%s): %s" % (path, why, describe(holder)))
        reclaimed = True
        if not module.check_mode:
            os.unlink(path)
    if module.check_mode or mine:
        module.exit_json(changed=False, holder=holder if mine else me, reclaimed=reclaimed)
    if not os.path.isdir(os.path.dirname(path) or "."):
        module.fail_json(msg="lock directory %s does not exist" % os.path.dirname(path))
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        module.fail_json(
            msg="another copilotos run took the lock %s just now: %s" % (path, describe(read_lock(path) or {}))
        )
    except OSError as exc:  # read-only or full filesystem, permissions: say so, no traceback
        module.fail_json(msg="cannot create the lock %s: %s; nothing was changed" % (path, exc.strerror or exc))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        os.unlink(path)
        module.fail_json(msg="cannot write the lock %s: %s; nothing was changed" % (path, exc.strerror or exc))
    module.exit_json(changed=False, holder=me, reclaimed=reclaimed)


if __name__ == "__main__":
    main()
