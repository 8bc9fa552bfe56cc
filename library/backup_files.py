#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_files
short_description: Back up project files into a new timestamped directory and apply retention
description:
  - Copies the listed files of the project directory into C(<root>/<UTC timestamp>/), one call for
    what would otherwise be a directory, a stat, a copy per file and a retention pass.
  - The root and the run's directory are mode 0700, every copy 0600 (written to a temporary file,
    fsynced and renamed, so a copy is whole or absent).
  - Missing files are skipped; symlinks and non-regular files are refused (the backup must hold the
    bytes the project really uses, not a link that can change under it).
  - Retention keeps the newest O(keep) backup directories. Only directories whose names are backup
    timestamps are ever removed; anything else under the root is left alone.
  - When a copy fails (a full or read-only filesystem), the partial run directory is removed and the
    module fails naming the file and the cause.
version_added: "0.2.0"
author: copilotos-remediation contributors
options:
  project_dir:
    description: The directory the O(files) are relative to.
    type: path
    required: true
  files:
    description: File names relative to O(project_dir).
    type: list
    elements: str
    required: true
  root:
    description: Where the timestamped backup directories are created.
    type: path
    required: true
  keep:
    description: How many backup directories to keep, newest first (at least 1, this run's).
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    details: In check mode nothing is written or removed; the result names what would be.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Back up the env file and the compose files
  backup_files:
    project_dir: /srv/copilotos
    files: [.env.production, docker-compose.yml, docker-compose.override.yml]
    root: /srv/copilotos/.copilotos-backups
    keep: 10
  register: backup
"""

RETURN = r"""
path:
  description: This run's backup directory.
  returned: always
  type: str
  sample: /srv/copilotos/.copilotos-backups/20261129T090000123456Z
saved:
  description: The O(files) that were copied (those that exist).
  returned: always
  type: list
  elements: str
removed:
  description: Backup directories removed by retention (names under O(root)).
  returned: always
  type: list
  elements: str
"""

import os
import re
import shutil
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_env import atomic_write

STAMP = re.compile(r"^\d{8}T\d{12}Z(\.\d+)?$")


def new_stamp(root: str) -> str:
    now = time.time()
    base = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + "%06dZ" % int((now % 1) * 1_000_000)
    name, counter = base, 0
    while os.path.lexists(os.path.join(root, name)):
        counter += 1
        name = "%s.%d" % (base, counter)
    return name


def sources(project_dir: str, files: list[str]) -> list[tuple[str, str]]:
    """(name, path) of the files to copy; raises ValueError for a name that escapes or a non-regular file."""
    out = []
    for name in files:
        base = os.path.normpath(project_dir)
        path = os.path.normpath(os.path.join(base, name))
        if path == base or os.path.commonpath([base, path]) != base:
            raise ValueError("%s is outside the project directory %s" % (name, project_dir))
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("%s is not a regular file (a symlink or a directory): refusing to back it up" % path)
        out.append((name, path))
    return out


def ensure_dir(path: str) -> None:
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700)
    if stat.S_IMODE(os.stat(path).st_mode) != 0o700:
        os.chmod(path, 0o700)


def retention(root: str, keep: int) -> list[str]:
    names = sorted(n for n in os.listdir(root) if STAMP.match(n) and os.path.isdir(os.path.join(root, n)))
    doomed = names[: max(0, len(names) - keep)]
    for name in doomed:
        shutil.rmtree(os.path.join(root, name))
    return doomed


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            project_dir=dict(type="path", required=True),
            files=dict(type="list", elements="str", required=True),
            root=dict(type="path", required=True),
            keep=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["keep"] < 1:
        module.fail_json(msg="keep must be at least 1 (this run's backup), got %d" % p["keep"])
    if not os.path.isdir(p["project_dir"]):
        module.fail_json(msg="project directory %s does not exist" % p["project_dir"])
    try:
        todo = sources(p["project_dir"], p["files"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    root = p["root"]
    if module.check_mode:
        existing = (
            sorted(n for n in os.listdir(root) if STAMP.match(n) and os.path.isdir(os.path.join(root, n)))
            if os.path.isdir(root)
            else []
        )
        would_remove = existing[: max(0, len(existing) + 1 - p["keep"])]
        module.exit_json(
            changed=True,
            path=os.path.join(root, new_stamp(root) if os.path.isdir(root) else "<timestamp>"),
            saved=[name for name, _ in todo],
            removed=would_remove,
        )
    run_dir = None
    try:
        ensure_dir(root)
        run_dir = os.path.join(root, new_stamp(root))
        os.mkdir(run_dir, 0o700)
        os.chmod(run_dir, 0o700)
        for name, path in todo:
            target = os.path.join(run_dir, name)
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            with open(path, "rb") as handle:
                atomic_write(target, handle.read(), mode=0o600)
    except OSError as exc:
        if run_dir and os.path.isdir(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        where = getattr(exc, "filename", None) or root
        module.fail_json(msg="cannot back up to %s: %s" % (where, exc.strerror or exc))
    try:
        removed = retention(root, p["keep"])
    except OSError as exc:
        module.warn("backup retention under %s failed: %s" % (root, exc.strerror or exc))
        removed = []
    module.exit_json(changed=True, path=run_dir, saved=[name for name, _ in todo], removed=removed)


if __name__ == "__main__":
    main()
