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
    machine (the controller is the target, with the same machine id) or when it is older than O(stale_after)
    seconds. When the controller is another machine, the action plugin of
    M(copilotos.remediation.copilotos_state) checks the holder there.
  - The lock is created with C(O_CREAT|O_EXCL), so two runs can never both take it.
version_added: "0.1.0"
author: copilotos-remediation contributors (!UNKNOWN)
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
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode the lock is only tested, never written.
  diff_mode:
    support: none
  platform:
    platforms: posix
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

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import ModuleFailure, finish
from ansible.module_utils.copilotos_lock import LockBusy, LockError, acquire, release


def run(module: AnsibleModule) -> dict[str, Any]:
    path, owner = module.params["path"], module.params["owner"]
    if module.params["state"] == "absent":
        # Releasing is bookkeeping, not a change of the host's configuration.
        return dict(changed=False, holder=release(path, owner, module.check_mode), reclaimed=False)
    try:
        got = acquire(path, owner, module.params["stale_after"], module.check_mode)
    except LockBusy as exc:
        raise ModuleFailure(str(exc), holder=exc.holder) from None
    except LockError as exc:
        raise ModuleFailure(str(exc)) from None
    if got["reclaimed"]:
        module.warn("reclaiming a stale lock %s (%s)" % (path, got["reclaim_reason"]))
    return dict(changed=False, holder=got["holder"], reclaimed=got["reclaimed"])


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
    finish(module, run)


if __name__ == "__main__":
    main()
