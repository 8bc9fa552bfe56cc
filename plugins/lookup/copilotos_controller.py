# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: copilotos_controller
short_description: Who is running this playbook (for the run lock)
description:
  - Returns one dict with the controller's user, host name, machine id, boot id, the ansible-playbook process id
    and the playbook. The machine and boot ids let a later run from this controller tell that a lock's holder
    process is gone, even when the target is another machine.
  - Lookups run in a worker forked by ansible-playbook, so the parent process id is the playbook run's.
"""

RETURN = r"""
_raw:
  description: A one-element list with C(user), C(host), C(machine_id), C(boot_id), C(pid), C(playbook).
  type: list
"""

import getpass
import os
import socket
import sys

from ansible.plugins.lookup import LookupBase

# The lock's own helpers (module_utils), imported through the collection name.
from ansible_collections.copilotos.remediation.plugins.module_utils.copilotos_lock import boot_id, machine_id


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        pid = os.getppid()
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                if b"ansible" not in handle.read():
                    pid = os.getpid()
        except OSError:
            pid = os.getpid()
        playbook = next((arg for arg in sys.argv[1:] if arg.endswith((".yml", ".yaml"))), "")
        return [
            {
                "user": getpass.getuser(),
                "host": socket.gethostname(),
                "machine_id": machine_id(),
                "boot_id": boot_id(),
                "pid": pid,
                "playbook": os.path.basename(playbook),
            }
        ]
