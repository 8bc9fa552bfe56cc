# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the run's one plan (``copilotos_plan``) on the controller.

The inputs are the variables named in ``copilotos_env``'s argument spec
(entry point ``plan``): that spec is the only list of them. They are read
from the host's variables, checked against the spec (types, choices) and
against the rules no spec can say (origins, timeout order, pool bounds), and
turned into one public fact: no secret is in it (see
``module_utils/copilotos_plan.py`` for how modules derive the secret keys).
A bad input fails here, on the controller, before anything reaches a host.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

# Documented in library/copilotos_plan.py (ansible-doc reads an action's docs from its module).

PLAN_VERSION = 1
# The lookup that names the run's owner, beside this plugin: by its short name in
# the repository (lookup_plugins), by its full name in the collection.
_PARTS = __name__.split(".")
CONTROLLER_LOOKUP = ("%s.%s.copilotos_controller" % (_PARTS[1], _PARTS[2]) if _PARTS[0] == "ansible_collections"
                     else "copilotos_controller")
ORIGIN_RE = re.compile(r"^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
PASSWORD_VAR = "copilotos_redis_password"  # noqa: S105 - the name of the variable, not a value


def number_text(value: Any) -> str:
    return str(int(value))


def cross_field_errors(p: dict[str, Any]) -> list[str]:
    """The rules an argument spec cannot express; each names its variable and value."""
    errors = []
    for var in ("copilotos_env_cors_origins", "copilotos_env_cors_extra_origins"):
        bad = [str(o) for o in p[var] if not ORIGIN_RE.match(str(o))]
        if bad:
            errors.append("%s: %s %s (scheme https, no path, no trailing slash)" % (
                var, ", ".join('"%s"' % o for o in bad),
                "is not an https://host origin" if len(bad) == 1 else "are not https://host origins"))
    if not p["copilotos_env_cors_origins"]:
        errors.append("copilotos_env_cors_origins is empty: the api needs its production origin(s)")
    positive = [
        "copilotos_env_saptiva_timeout", "copilotos_env_saptiva_connect_timeout", "copilotos_env_saptiva_read_timeout",
        "copilotos_env_db_max_pool_size", "copilotos_env_db_connect_timeout_ms",
        "copilotos_env_db_server_selection_timeout_ms", "copilotos_env_rate_limit_calls",
        "copilotos_env_rate_limit_period", "copilotos_env_redis_port",
    ]
    for name in positive:
        if p[name] <= 0:
            errors.append("%s=%s must be > 0" % (name, p[name]))
    for name in ("copilotos_env_db_min_pool_size", "copilotos_env_db_max_idle_time_ms", "copilotos_env_redis_db",
                 "copilotos_env_redis_broker_db"):
        if p[name] < 0:
            errors.append("%s=%s must be >= 0" % (name, p[name]))
    connect, read, total = (p["copilotos_env_saptiva_connect_timeout"], p["copilotos_env_saptiva_read_timeout"],
                            p["copilotos_env_saptiva_timeout"])
    if 0 < connect and 0 < read and connect >= read:
        errors.append("copilotos_env_saptiva_connect_timeout=%s must be below copilotos_env_saptiva_read_timeout=%s"
                      % (connect, read))
    if 0 < read and 0 < total and read > total:
        errors.append("copilotos_env_saptiva_read_timeout=%s must not exceed copilotos_env_saptiva_timeout=%s"
                      % (read, total))
    if p["copilotos_env_db_min_pool_size"] > p["copilotos_env_db_max_pool_size"] > 0:
        errors.append("copilotos_env_db_min_pool_size=%s is above copilotos_env_db_max_pool_size=%s"
                      % (p["copilotos_env_db_min_pool_size"], p["copilotos_env_db_max_pool_size"]))
    if not 0 < p["copilotos_env_redis_port"] < 65536:
        errors.append("copilotos_env_redis_port=%s is not a TCP port" % p["copilotos_env_redis_port"])
    return errors


def yaml_type(value: Any) -> str:
    """The plain type an operator wrote (Ansible wraps values in tagged subclasses of these)."""
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return type(value).__name__


# The placeholders of inventory/production/group_vars/copilotos/vault.yml: a
# run on them would write a password the server does not have.
EXAMPLE_SECRET_PREFIX = "CHANGE-ME"  # noqa: S105 (a placeholder to refuse, not a secret)


def password_error(raw: Any) -> str | None:
    """Checked before the spec coerces it: a list or an unquoted 0123 would become the password."""
    if raw is None:
        return "%s is not set: put it in the inventory's vault file" % PASSWORD_VAR
    if not isinstance(raw, str):
        return "%s must be a string, got a %s (quote it in YAML, for example \"0123\" or \"true\")" % (
            PASSWORD_VAR, yaml_type(raw))
    if not raw:
        return "%s is empty: set it in the inventory's vault file" % PASSWORD_VAR
    return None


# The vault's secrets a run carries: the Redis password it writes, the Mongo
# password the reports mask (a placeholder there would leave the real one
# unmasked).
VAULT_SECRET_VARS = (PASSWORD_VAR, "copilotos_mongo_password")


def placeholder_errors(values: dict[str, Any]) -> list[str]:
    """One error per vault secret that is still the example vault's placeholder."""
    return ["%s is still the example vault's placeholder: put the server's real value in your own, encrypted "
            "vault file (inventory/production/README.md)" % name
            for name in VAULT_SECRET_VARS
            if isinstance(values.get(name), str) and values[name].upper().startswith(EXAMPLE_SECRET_PREFIX)]


def absolute(base: str, path: str) -> str:
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base, path))


def build_plan(p: dict[str, Any], host: str, audit: bool, owner: dict[str, Any]) -> dict[str, Any]:
    """The public plan from validated inputs."""
    project_dir = os.path.normpath(p["copilotos_project_dir"])
    compose_dir = absolute(project_dir, p["copilotos_compose_project_dir"] or project_dir)
    calls, period = p["copilotos_env_rate_limit_calls"], p["copilotos_env_rate_limit_period"]
    origins = list(dict.fromkeys(list(p["copilotos_env_cors_origins"]) + list(p["copilotos_env_cors_extra_origins"])))
    env = {
        "REDIS_HOST": p["copilotos_env_redis_host"],
        "REDIS_PORT": number_text(p["copilotos_env_redis_port"]),
        "REDIS_DB": number_text(p["copilotos_env_redis_db"]),
        "CORS_ORIGINS": "[%s]" % ",".join('"%s"' % o for o in origins),
        "SAPTIVA_TIMEOUT": number_text(p["copilotos_env_saptiva_timeout"]),
        "SAPTIVA_CONNECT_TIMEOUT": number_text(p["copilotos_env_saptiva_connect_timeout"]),
        "SAPTIVA_READ_TIMEOUT": number_text(p["copilotos_env_saptiva_read_timeout"]),
        "DB_MIN_POOL_SIZE": number_text(p["copilotos_env_db_min_pool_size"]),
        "DB_MAX_POOL_SIZE": number_text(p["copilotos_env_db_max_pool_size"]),
        "DB_CONNECT_TIMEOUT_MS": number_text(p["copilotos_env_db_connect_timeout_ms"]),
        "DB_SERVER_SELECTION_TIMEOUT_MS": number_text(p["copilotos_env_db_server_selection_timeout_ms"]),
        "DB_MAX_IDLE_TIME_MS": number_text(p["copilotos_env_db_max_idle_time_ms"]),
        "RATE_LIMIT_CALLS": number_text(calls),
        "RATE_LIMIT_PERIOD": number_text(period),
    }
    for key, value in (p["copilotos_env_extra_values"] or {}).items():
        env[str(key)] = str(value)
    # The keys the diagnosis names but the app never reads, written for the
    # operator's sake with the values of the keys the app does read.
    seed = {}
    if p["copilotos_env_seed_keys"]:
        seed = {
            "RATE_LIMIT_REQUESTS_PER_MINUTE": number_text(max(1, round(calls * 60 / period))),
            "DB_CONNECTION_TIMEOUT_MS": number_text(p["copilotos_env_db_connect_timeout_ms"]),
        }
    secret_env = {
        "REDIS_PASSWORD": {"kind": "password"},
        "REDIS_URL": {"kind": "redis_url", "db": p["copilotos_env_redis_db"]},
        "CELERY_BROKER_URL": {"kind": "redis_url", "db": p["copilotos_env_redis_broker_db"]},
    }
    override = p["copilotos_env_override_file"]
    return {
        "version": PLAN_VERSION,
        "host": host,
        "mode": "audit" if audit else "remediate",
        "paths": {
            "project_dir": project_dir,
            "compose_project_dir": compose_dir,
            "compose_files": [absolute(compose_dir, f) for f in p["copilotos_compose_files"]],
            "env_file": absolute(project_dir, p["copilotos_env_file"]),
            "override_file": absolute(compose_dir, override) if p["copilotos_env_override_enabled"] else None,
            "lock_file": absolute(project_dir, p["copilotos_env_lock_file"]),
            "backup_root": absolute(project_dir, p["copilotos_env_backup_root"]),
            "log_file": absolute(project_dir, p["copilotos_env_log_file"]),
        },
        "compose": {"project": p["copilotos_compose_project"], "service": p["copilotos_env_api_service"]},
        "api": {"port": p["copilotos_api_port"]},
        "redis": {"host": p["copilotos_env_redis_host"], "port": p["copilotos_env_redis_port"],
                  "db": p["copilotos_env_redis_db"], "broker_db": p["copilotos_env_redis_broker_db"]},
        "env": env,
        "seed_env": seed,
        "secret_env": secret_env,
        "secret_keys": sorted(set(p["copilotos_env_secret_keys"]) | set(secret_env)),
        "cors": {"origins": origins, "required": list(p["copilotos_env_cors_origins"])},
        "lock": {"owner": owner},
    }


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        spec_path = self._task.args.get("spec")
        entry = self._task.args.get("entry_point", "plan")
        try:
            with open(spec_path, encoding="utf-8") as handle:
                options = yaml.safe_load(handle)["argument_specs"][entry]["options"]
        except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
            message = "copilotos_plan: cannot read entry point %r of %s: %s" % (entry, spec_path, exc)
            raise AnsibleError(message) from None
        spec = {name: {k: v for k, v in opt.items() if k not in ("description", "version_added")}
                for name, opt in options.items()}

        provided = {}
        for name in spec:
            if name in task_vars:
                provided[name] = self._templar.template(task_vars[name])
        error = password_error(provided.get(PASSWORD_VAR))
        if error:
            return dict(result, failed=True, msg=error)
        secrets = {name: provided.get(name, task_vars.get(name)) for name in VAULT_SECRET_VARS}
        try:
            secrets = {name: self._templar.template(value) for name, value in secrets.items()}
        except AnsibleError:
            pass  # an unset optional secret (the Mongo password): nothing to compare
        errors = placeholder_errors(secrets)
        if errors:
            return dict(result, failed=True, msg="; ".join(errors))
        validated = ArgumentSpecValidator(spec).validate(provided)
        errors = [str(e) for e in validated.errors]
        if errors:
            return dict(result, failed=True, msg="invalid input: " + "; ".join(errors))
        params = validated.validated_parameters
        errors = cross_field_errors(params)
        if errors:
            return dict(result, failed=True, msg="; ".join(errors))

        lookup = self._shared_loader_obj.lookup_loader.get(CONTROLLER_LOOKUP, loader=self._loader,
                                                           templar=self._templar)
        owner = lookup.run([], variables=task_vars)[0]
        audit = bool(self._task.check_mode)
        plan = build_plan(params, task_vars.get("inventory_hostname", "?"), audit, owner)
        managed = len(plan["env"]) + len(plan["seed_env"]) + 3
        return dict(result, changed=False, ansible_facts={"copilotos_plan": plan},
                    msg="%s plan for %s: %d managed keys" % (plan["mode"], plan["host"], managed))
