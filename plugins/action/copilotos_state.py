# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of copilotos_state: vouch for a dead run's lock that only the controller can judge.

The run lock on the target names the ansible-playbook process that took it.
When that controller is another machine (a laptop, AWX), the target cannot
tell whether the process is still alive; only its age would reclaim it. This
action runs the module; when the module refuses because of a lock taken from
*this* controller (same machine id) by a process that no longer exists here
(or before this machine's last boot), it runs the module once more, vouching
for exactly that holder. The module reclaims the lock only if the file still
names it. Every other result is the module's own.
"""

from __future__ import annotations

import socket
from typing import Any

from ansible.plugins.action import ActionBase

# The lock's own helpers (module_utils), imported through the collection name.
from ansible_collections.copilotos.remediation.plugins.module_utils.copilotos_lock import (
    boot_id,
    holder_identity,
    machine_id,
    process_gone,
    same_machine,
)


def vouch_for(result: dict[str, Any], here_machine_id: str, here_host: str, here_boot_id: str) -> dict[str, Any] | None:
    """The holder identity to vouch for, or None: the refusal names a lock of this controller's dead process."""
    holder = result.get("holder")
    if not (result.get("failed") and result.get("refused") and isinstance(holder, dict)) or holder.get("unreadable"):
        return None
    if not same_machine(holder, here_machine_id, here_host):
        return None
    if not process_gone(holder, here_boot_id):
        return None
    return holder_identity(holder)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        out = self._execute_module(module_name=self._task.action, module_args=args, task_vars=task_vars)
        identity = vouch_for(out, machine_id(), socket.gethostname(), boot_id()) if args.get("lock") else None
        if identity is not None:
            args["lock_vouched"] = identity
            out = self._execute_module(module_name=self._task.action, module_args=args, task_vars=task_vars)
        result.update(out)
        return result
