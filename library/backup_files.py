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
  - Next to each backup directory, C(<timestamp>.json) (0600) records the names, modes, owners and SHA-256 of the
    copies (never content), so that O(state=restore) puts back the bytes, the mode and the owner of every file.
  - O(state=restore) copies the files of a backup (O(backup), or the newest under O(root)) back into the project
    directory, atomically, writing only those that differ, and removes each of O(remove_if_absent) that the
    backup does not hold (a file the remediation created, such as its compose override).
version_added: "0.2.0"
author: copilotos-remediation contributors (!UNKNOWN)
options:
  project_dir:
    description: The directory the O(files) are relative to.
    type: path
    required: true
  files:
    description: File names relative to O(project_dir) (required to back up).
    type: list
    elements: str
  state:
    description: C(backup) makes a new backup; C(restore) puts one back.
    type: str
    choices: [backup, restore]
    default: backup
  backup:
    description: The backup directory to restore (default the newest under O(root)).
    type: path
  remove_if_absent:
    description: Files (relative to O(project_dir)) that O(state=restore) removes when the backup does not hold them.
    type: list
    elements: str
    default: []
  root:
    description: Where the timestamped backup directories are created.
    type: path
    required: true
  keep:
    description: How many backup directories to keep, newest first (at least 1, this run's).
    type: int
    default: 10
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode nothing is written or removed; the result names what would be.
  diff_mode:
    support: none
  platform:
    platforms: posix
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
  description: Backup directories removed by retention (names under O(root)); with O(state=restore), the files of
    O(remove_if_absent) that were removed.
  returned: always
  type: list
  elements: str
restored:
  description: Files written back from the backup (O(state=restore)).
  returned: when state is restore
  type: list
  elements: str
"""

import hashlib
import json
import os
import re
import shutil
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import ModuleFailure, atomic_write, finish

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


def file_record(path: str) -> dict:
    info = os.stat(path)
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return {"mode": "%04o" % stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid, "sha256": digest}


def newest_backup(root: str) -> str | None:
    if not os.path.isdir(root):
        return None
    names = sorted(n for n in os.listdir(root) if STAMP.match(n) and os.path.isdir(os.path.join(root, n)))
    return os.path.join(root, names[-1]) if names else None


def backed_up_files(run_dir: str) -> dict:
    """name -> record of a backup (its manifest; older backups without one: every file, mode 0600 for .env)."""
    manifest = run_dir.rstrip("/") + ".json"
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as handle:
            return dict(json.load(handle)["files"])
    out = {}
    for base, _dirs, names in os.walk(run_dir):
        for name in names:
            rel = os.path.relpath(os.path.join(base, name), run_dir)
            out[rel] = {"mode": "0600" if os.path.basename(rel).startswith(".env") else "0640"}
    return out


def restore(module: AnsibleModule) -> dict:
    p = module.params
    run_dir = p["backup"] or newest_backup(p["root"])
    if not run_dir or not os.path.isdir(run_dir):
        raise ModuleFailure("no backup to restore under %s" % (p["backup"] or p["root"]))
    records = backed_up_files(run_dir)
    if not records:
        raise ModuleFailure("backup %s holds no file" % run_dir)
    todo, restored = [], []
    for name, record in sorted(records.items()):
        source = os.path.join(run_dir, name)
        target = os.path.normpath(os.path.join(p["project_dir"], name))
        with open(source, "rb") as handle:
            data = handle.read()
        mode = int(record.get("mode", "0600"), 8)
        current = None
        if os.path.isfile(target) and not os.path.islink(target):
            with open(target, "rb") as handle:
                current = handle.read()
        same = current == data and stat.S_IMODE(os.stat(target).st_mode) == mode if current is not None else False
        if not same:
            todo.append((name, target, data, mode, record))
    removable = [n for n in p["remove_if_absent"] if n not in records
                 and os.path.lexists(os.path.join(p["project_dir"], n))]
    if not module.check_mode:
        try:
            for name, target, data, mode, record in todo:
                atomic_write(target, data, mode=mode, uid=record.get("uid"), gid=record.get("gid"))
                restored.append(name)
            for name in removable:
                os.unlink(os.path.join(p["project_dir"], name))
        except OSError as exc:
            where = getattr(exc, "filename", None) or run_dir
            raise ModuleFailure("cannot restore %s: %s" % (where, exc.strerror or exc), restored=restored) from None
    else:
        restored = [t[0] for t in todo]
    return dict(changed=bool(todo or removable), path=run_dir, saved=sorted(records), restored=restored,
                removed=removable)


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
        manifest = os.path.join(root, name + ".json")
        if os.path.isfile(manifest):
            os.unlink(manifest)
    return doomed


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            project_dir=dict(type="path", required=True),
            files=dict(type="list", elements="str"),
            root=dict(type="path", required=True),
            keep=dict(type="int", default=10),
            state=dict(type="str", choices=["backup", "restore"], default="backup"),
            backup=dict(type="path"),
            remove_if_absent=dict(type="list", elements="str", default=[]),
        ),
        required_if=[("state", "backup", ["files"])],
        supports_check_mode=True,
    )
    finish(module, run)


def run(module: AnsibleModule) -> dict:
    p = module.params
    if not os.path.isdir(p["project_dir"]):
        raise ModuleFailure("project directory %s does not exist" % p["project_dir"])
    if p["state"] == "restore":
        return restore(module)
    if p["keep"] < 1:
        raise ModuleFailure("keep must be at least 1 (this run's backup), got %d" % p["keep"])
    try:
        todo = sources(p["project_dir"], p["files"])
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from None
    root = p["root"]
    if module.check_mode:
        existing = (
            sorted(n for n in os.listdir(root) if STAMP.match(n) and os.path.isdir(os.path.join(root, n)))
            if os.path.isdir(root)
            else []
        )
        would_remove = existing[: max(0, len(existing) + 1 - p["keep"])]
        return dict(
            changed=True,
            path=os.path.join(root, new_stamp(root) if os.path.isdir(root) else "<timestamp>"),
            saved=[name for name, _path in todo],
            removed=would_remove,
        )
    run_dir = None
    try:
        ensure_dir(root)
        run_dir = os.path.join(root, new_stamp(root))
        os.mkdir(run_dir, 0o700)
        os.chmod(run_dir, 0o700)
        manifest = {}
        for name, path in todo:
            target = os.path.join(run_dir, name)
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            with open(path, "rb") as handle:
                atomic_write(target, handle.read(), mode=0o600)
            manifest[name] = file_record(path)
        atomic_write(run_dir + ".json",
                     json.dumps({"version": 1, "files": manifest}, sort_keys=True).encode("utf-8"), mode=0o600)
    except OSError as exc:
        if run_dir and os.path.isdir(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        if run_dir and os.path.isfile(run_dir + ".json"):
            os.unlink(run_dir + ".json")
        where = getattr(exc, "filename", None) or root
        raise ModuleFailure("cannot back up to %s: %s" % (where, exc.strerror or exc)) from None
    try:
        removed = retention(root, p["keep"])
    except OSError as exc:
        module.warn("backup retention under %s failed: %s" % (root, exc.strerror or exc))
        removed = []
    return dict(changed=True, path=run_dir, saved=[name for name, _path in todo], removed=removed)


if __name__ == "__main__":
    main()
