#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


from __future__ import annotations

DOCUMENTATION = r"""
---
module: env_file
short_description: Manage keys of a Docker Compose env file, keeping everything else byte for byte
description:
  - Ensures some keys of a Docker Compose C(.env) file have given values and removes others.
  - Lines it does not manage (comments, blank lines, order, C(export) prefixes, unknown keys, CRLF line
    endings, a missing final newline, a UTF-8 byte order mark, multi-line quoted values such as a PEM key)
    are kept byte for byte. A key whose current value already reads
    as the wanted string is left as written, whatever its quoting.
  - Values are written so Docker Compose v2 reads back exactly the given string, including C($), quotes,
    C(#), blanks, backslashes and C(!). Plain values stay unquoted; others are single-quoted, or
    double-quoted with C(\), C(") and C($) escaped when they contain a single quote.
  - When a key is set more than once, the effective (last) assignment is managed and the names of the
    duplicated keys are returned and warned about.
  - Writes are atomic (temp file in the same directory, fsync, rename, fsync of the directory) and keep
    the file's mode and owner. An unparseable line fails the task with its line number and nothing is
    written.
  - Values of O(secret_keys) and passwords inside C(scheme://user:password@) URLs are masked as
    C(********) in the diff. A secret key whose value is a plain C(scheme://[user]:password@host[:port][/path])
    URL keeps its scheme, host and path visible, with only the password masked (a query string, a fragment
    or a URL without a password is masked whole). No value is ever returned.
version_added: "0.1.0"
options:
  path:
    description: Path of the env file. A directory or a symbolic link is refused.
    type: path
    required: true
  values:
    description:
      - Keys to ensure, mapped to their exact wanted string. Numbers are converted to strings;
        booleans and nulls are refused (quote them).
      - This option is C(no_log), because it carries passwords, so the task's arguments are never shown.
        In the result and the diff, only the values of O(secret_keys) (plus any key whose name looks like a
        secret, such as C(*PASSWORD*), C(*SECRET*), C(*TOKEN*), C(*API_KEY*)) and passwords inside URLs are
        masked; the other values stay readable.
      - A value with a line break or another control character (tab excepted) is refused.
    type: dict
    default: {}
  plan:
    description:
      - The run's plan (the C(copilotos_plan) fact of the remediation) instead of O(values). Every key it
        manages is ensured, the secret ones built from O(redis_password) (the Redis URLs percent-encoded), and
        its secret keys are masked.
    type: dict
  redis_password:
    description: The Redis password the secret keys of O(plan) are built from.
    type: str
  absent:
    description: Keys to remove. Every assignment of such a key is removed.
    type: list
    elements: str
    default: []
  secret_keys:
    description: Keys whose values (old and new, plain and percent-encoded) are masked in the diff.
    type: list
    elements: str
    default: []
  backup:
    description:
      - Before changing an existing file, copy it to C(<name>.<UTC timestamp>.bak) with mode C(0600).
    type: bool
    default: false
  backup_dir:
    description: Directory for backups (created with mode C(0700) if missing). Default is the file's directory.
    type: path
  create:
    description:
      - Create the file (mode C(0600) unless O(mode) is given) when it does not exist.
      - When V(false), a missing file fails the task.
    type: bool
    default: false
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.files
  - files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: none
notes:
  - The file is read as Docker Compose v2.40.3 reads it (compose-go v2.9.1). A leading byte order mark,
    quoted values spanning lines, bare C(KEY) lines (inherit from the environment of Compose), YAML-style
    lines (a colon instead of C(=)) and the wider key names of Compose are accepted. What Compose refuses
    (a space in a key, an unterminated quote, C(${) without a name) fails the task with the line number.
  - Known difference, a refusal and never a misread, text after a closing quote (C(A="x" B=2)), which
    Compose reads as one more assignment, fails the task with the line number.
  - A bare C(KEY) line gets its value from the environment of Compose, which this module cannot see;
    when the key is managed, the line becomes C(KEY=value).
  - A value that uses interpolation (C($VAR), C(${VAR})) never counts as equal to a wanted value; when
    its key is managed it is replaced by the literal wanted string.
  - Changing the file does not change running containers; recreate them (C(docker compose up -d)),
    since C(docker compose restart) does not re-read env files.
author:
  - copilotos-remediation contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: env_file | Point REDIS_URL at the redis service with the real password
  env_file:
    path: /opt/copilotos/.env.production
    values:
      REDIS_URL: "{{ copilotos_env_redis_url }}"  # password percent-encoded, host "redis"
      REDIS_PASSWORD: "{{ copilotos_redis_password }}"
      DB_MAX_POOL_SIZE: "50"
    secret_keys: [REDIS_PASSWORD]
    backup: true
    mode: "0600"
  no_log: true

- name: env_file | Remove an obsolete key
  env_file:
    path: /opt/copilotos/.env.production
    absent: [LEGACY_REDIS_HOST]
"""

RETURN = r"""
changed_keys:
  description: Names of the keys added, updated or removed (sorted).
  returned: always
  type: list
  elements: str
  sample: [DB_MAX_POOL_SIZE, REDIS_URL]
added_keys:
  description: Names of the keys appended to the file.
  returned: always
  type: list
  elements: str
  sample: []
updated_keys:
  description: Names of the existing keys whose value was rewritten.
  returned: always
  type: list
  elements: str
  sample: [REDIS_URL]
removed_keys:
  description: Names of the keys removed.
  returned: always
  type: list
  elements: str
  sample: []
duplicates:
  description: Names of keys assigned more than once in the original file.
  returned: always
  type: list
  elements: str
  sample: [REDIS_URL]
backup_file:
  description: Path of the backup made before the change, null when none was made.
  returned: always
  type: str
  sample: /opt/copilotos/.env.production.20250930T201900Z.bak
diff:
  description: Before and after text with secret values and URL passwords masked.
  returned: when diff mode is on
  type: dict
"""

import os
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import ModuleFailure, atomic_write, finish, one_line, secret_forms
from ansible.module_utils.copilotos_env import (
    EnvParseError,
    EnvValueError,
    make_backup,
    mask_env,
    parse_env,
    read_env_bytes,
    serialize,
    update_env,
    url_passwords,
)
from ansible.module_utils.copilotos_plan import PlanError, check_plan, desired_env, secret_keys


def wanted_values(module: AnsibleModule) -> dict[str, str]:
    out = {}
    for key, value in module.params["values"].items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ModuleFailure("values.%s must be a string (quote it in YAML)" % key)
        out[str(key)] = str(value)
    return out


SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)


def values_from_plan(module: AnsibleModule) -> None:
    """With a plan, the wanted values and the secret keys are the plan's."""
    plan = module.params["plan"]
    if plan is None:
        return
    try:
        check_plan(plan)
    except PlanError as exc:
        raise ModuleFailure(str(exc)) from None
    if module.params["redis_password"] is None:
        raise ModuleFailure("env_file: plan needs redis_password to build its secret keys")
    module.params["values"] = desired_env(plan, module.params["redis_password"])
    module.params["secret_keys"] = sorted(set(module.params["secret_keys"]) | set(secret_keys(plan)))


def add_secret_looking_keys(module: AnsibleModule) -> None:
    """Treat keys named like secrets as secret even when the caller forgot them."""
    listed = set(module.params["secret_keys"])
    found = {key for key in module.params["values"] if SECRET_NAME.search(str(key))}
    module.params["secret_keys"] = sorted(listed | found)


def keep_usable_output(module: AnsibleModule) -> None:
    """Mask the secrets, and only the secrets, in every output string.

    ``values`` is ``no_log`` (it carries passwords), so Ansible would mask
    every value everywhere: ``10`` would turn a backup timestamp into
    ``********`` and a CORS list would vanish from the diff an operator
    reviews. The values of keys outside ``secret_keys`` are taken off that
    list, unless the same text is also a secret; passwords inside URLs are
    added to it, plain and percent-encoded.
    """
    secret_keys = set(module.params["secret_keys"])
    raw = module.params["values"]
    keep = {str(v) for k, v in raw.items() if k in secret_keys}
    for key, value in raw.items():
        text = str(value)
        if key not in secret_keys and text not in keep:
            module.no_log_values.discard(text)
    for password in url_passwords(str(v) for v in raw.values()):
        module.no_log_values.update(secret_forms([password]))


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    path = params["path"]
    if os.path.islink(path):
        target = os.readlink(path)
        raise ModuleFailure(
            msg="%s is a symbolic link (to %s); refusing to replace it, give the real path" % (path, target)
        )
    if os.path.isdir(path):
        raise ModuleFailure("%s is a directory, not an env file" % path)
    exists = os.path.exists(path)
    if not exists and not params["create"]:
        raise ModuleFailure("%s does not exist (set create: true to create it)" % path)
    if not exists and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ModuleFailure("the directory of %s does not exist" % path)
    data = b""
    try:
        data = read_env_bytes(path) if exists else b""
        text = data.decode("utf-8")
    except OSError as exc:
        raise ModuleFailure("cannot read %s: %s" % (path, one_line(exc.strerror or exc.__class__.__name__))) from None
    except UnicodeDecodeError as exc:
        raise ModuleFailure("%s is not UTF-8 text (byte %d); nothing written" % (path, exc.start)) from None
    values = wanted_values(module)
    try:
        env = parse_env(text)
        result = update_env(env, values, params["absent"])
    except EnvParseError as exc:
        raise ModuleFailure("%s: %s; nothing written" % (path, exc), line=exc.lineno) from None
    except EnvValueError as exc:
        raise ModuleFailure("%s: %s; nothing written" % (path, exc)) from None
    new_text = serialize(result.env)
    changed = new_text != text or not exists
    out: dict[str, Any] = {
        "changed_keys": result.changed_keys,
        "added_keys": result.added,
        "updated_keys": result.updated,
        "removed_keys": result.removed,
        "duplicates": result.duplicates,
        "backup_file": None,
    }
    if result.duplicates:
        module.warn(
            "%s sets these keys more than once; the last assignment is the effective and managed one: %s"
            % (path, ", ".join(result.duplicates))
        )
    if module._diff:
        secret_keys = params["secret_keys"]
        secrets = [v for k, v in values.items() if k in secret_keys]
        secrets += [line.value.text for line in env.lines if line.key in secret_keys and line.value]
        out["diff"] = {
            "before": mask_env(env, secret_keys, secrets) if exists else "",
            "after": mask_env(result.env, secret_keys, secrets),
            "before_header": path if exists else "%s (absent)" % path,
            "after_header": path,
        }
    if changed and not module.check_mode:
        try:
            if exists and params["backup"]:
                out["backup_file"] = make_backup(path, data, params["backup_dir"])
            stat = os.stat(path) if exists else None
            atomic_write(
                path,
                new_text.encode("utf-8"),
                mode=(stat.st_mode & 0o7777) if stat else 0o600,
                uid=stat.st_uid if stat else None,
                gid=stat.st_gid if stat else None,
            )
        except OSError as exc:
            raise ModuleFailure(
                msg="cannot write %s: %s" % (path, one_line(exc.strerror or exc.__class__.__name__)), **out
            ) from None
    if exists or not module.check_mode:
        changed = module.set_fs_attributes_if_different(module.load_file_common_arguments(params), changed)
    count = len(result.changed_keys)
    out["msg"] = ("%d key(s) changed in %s" % (count, path)) if count else ("%s already as wanted" % path)
    out["changed"] = changed
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            values=dict(type="dict", default={}, no_log=True),
            plan=dict(type="dict"),
            redis_password=dict(type="str", no_log=True),
            absent=dict(type="list", elements="str", default=[]),
            secret_keys=dict(type="list", elements="str", default=[], no_log=False),
            backup=dict(type="bool", default=False),
            backup_dir=dict(type="path"),
            create=dict(type="bool", default=False),
        ),
        add_file_common_args=True,
        mutually_exclusive=[("values", "plan")],
        required_by={"plan": "redis_password"},
        supports_check_mode=True,
    )
    values_from_plan(module)
    add_secret_looking_keys(module)
    keep_usable_output(module)
    finish(module, run)


if __name__ == "__main__":
    main()
