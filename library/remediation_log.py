#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: remediation_log
short_description: Append a run to the host's remediation log and return the recent history
description:
  - The remediation log is a JSON-lines file in the project directory, one line per run (time, user,
    changed keys, backup, restart, result). Names and results only, never values.
  - Appends O(entry) as one line (a single C(O_APPEND) write, so concurrent writers never interleave
    inside a line) and returns the last O(history) entries, in one call.
  - The file is created with mode 0600. Its directory is never created. When it does not exist
    (a project directory that is missing), nothing is written and the history is empty.
  - A log that cannot be written or read (a full or read-only filesystem) gives a warning, not a
    failure. The record of a run must never fail the run it records or hide its real error.
  - The log records runs; it is not configuration. Appending never reports C(changed), so a second,
    no-op run stays at changed=0.
version_added: "0.2.0"
author: copilotos-remediation contributors (!UNKNOWN)
options:
  path:
    description: The log file.
    type: path
    required: true
  entry:
    description: The line to append, as a mapping (serialised as compact JSON). Omit it to only read.
    type: dict
  history:
    description: How many of the most recent entries to return (after the append).
    type: int
    default: 10
  release_lock:
    description:
      - The run lock this run holds, released after the append and the read, with the rules of
        M(copilotos.remediation.run_lock) C(state=absent) (the file goes only when it still names
        O(release_lock.owner)).
      - The log line is the run's last write on the target, so the end of a run needs no separate
        release call. Not in check mode, which holds no lock.
    type: dict
    suboptions:
      path:
        description: The lock file.
        type: path
        required: true
      owner:
        description: The holder this run wrote into the lock (see M(copilotos.remediation.run_lock)).
        type: dict
        required: true
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode nothing is appended; the history is still returned.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Append this run to the remediation log
  remediation_log:
    path: /srv/copilotos/.copilotos-remediation.log
    entry: {time: "2026-11-29T09:00:00Z", user: ops, changed_keys: [REDIS_URL], verification: remediated}
    history: 5
  register: log

- name: Append the run and release the run lock it holds, in one call
  remediation_log:
    path: /srv/copilotos/.copilotos-remediation.log
    entry: {time: "2026-11-29T09:00:00Z", user: ops, changed_keys: [], verification: compliant}
    release_lock:
      path: /srv/copilotos/.copilotos-remediation.lock
      owner: "{{ lookup('copilotos_controller') }}"
"""

RETURN = r"""
appended:
  description: Whether O(entry) was written.
  returned: always
  type: bool
history:
  description: The last O(history) entries, oldest first. Lines that are not JSON objects are left out.
  returned: always
  type: list
  elements: dict
skipped_lines:
  description: How many of the lines read were not JSON objects.
  returned: always
  type: int
lock_released:
  description: Whether the lock of O(release_lock) is gone for this run (released now, or already absent).
  returned: always
  type: bool
lock_holder:
  description: Who holds the lock of O(release_lock) instead of this run (left in place), if anyone.
  returned: when another holder was found
  type: dict
"""

import json
import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import finish
from ansible.module_utils.copilotos_lock import release

BLOCK = 8192


def tail_lines(path: str, count: int) -> list[bytes]:
    """The last ``count`` non-empty lines of ``path``, reading backwards in blocks."""
    if count <= 0:
        return []
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return []
    with handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        data = b""
        while end > 0 and data.count(b"\n") <= count:
            start = max(0, end - BLOCK)
            handle.seek(start)
            data = handle.read(end - start) + data
            end = start
    lines = [line for line in data.split(b"\n") if line.strip()]
    return lines[-count:]


def parse(lines: list[bytes]) -> tuple[list[dict], int]:
    entries, skipped = [], 0
    for line in lines:
        try:
            value = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            value = None
        if isinstance(value, dict):
            entries.append(value)
        else:
            skipped += 1
    return entries, skipped


def append(path: str, entry: dict) -> None:
    line = (json.dumps(entry, separators=(", ", ": ")) + "\n").encode("utf-8")
    # O_NOFOLLOW: never write through a symlink planted in the project directory.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def run(module: AnsibleModule) -> dict[str, Any]:
    path, entry = module.params["path"], module.params["entry"]
    appended = False
    if entry is not None and not module.check_mode and os.path.isdir(os.path.dirname(path) or "."):
        try:
            append(path, entry)
            appended = True
        except OSError as exc:
            module.warn("cannot append to the remediation log %s: %s" % (path, exc.strerror or exc))
    try:
        entries, skipped = parse(tail_lines(path, module.params["history"]))
    except OSError as exc:
        module.warn("cannot read the remediation log %s: %s" % (path, exc.strerror or exc))
        entries, skipped = [], 0
    result: dict[str, Any] = dict(changed=False, appended=appended, history=entries, skipped_lines=skipped,
                                  lock_released=False)
    lock = module.params["release_lock"]
    if lock and not module.check_mode:
        holder = release(lock["path"], lock["owner"], False)
        if holder is None:
            result["lock_released"] = True
        else:
            result["lock_holder"] = holder
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            entry=dict(type="dict"),
            history=dict(type="int", default=10),
            release_lock=dict(type="dict", options=dict(path=dict(type="path", required=True),
                                                        owner=dict(type="dict", required=True))),
        ),
        supports_check_mode=True,
    )
    finish(module, run)


if __name__ == "__main__":
    main()
