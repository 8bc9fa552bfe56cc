# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation plan as the modules read it (target side).

The plan (``copilotos_plan``, built once per run on the controller by the
``copilotos_plan`` action plugin) is public: it holds no secret. The managed
keys whose values derive from a secret are named in ``plan["secret_env"]``
with the recipe of their value; a module that needs the values (the env-file
writer, the rules comparing the live system with the plan) computes them
here from the plan and the Redis password, so that the URLs are built in
exactly one place.

Recipes of ``secret_env``:

* ``{"kind": "password"}``: the Redis password itself (``REDIS_PASSWORD``);
* ``{"kind": "redis_url", "db": N}``: ``redis://:<password, percent-encoded>@
  <plan.redis.host>:<plan.redis.port>/N`` (``REDIS_URL`` with the api's db,
  ``CELERY_BROKER_URL`` with the broker db: the diagnosis generation's cache
  reads the broker URL with ``/1`` replaced by ``/0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .copilotos_urls import build_redis_url

PLAN_VERSION = 1


class PlanError(ValueError):
    """The plan handed to a module is not one the plan plugin builds."""


def check_plan(plan: Any) -> dict[str, Any]:
    """The plan as a dict, or PlanError naming what is wrong with it."""
    if not isinstance(plan, dict):
        raise PlanError("plan must be the copilotos_plan fact (a dict), got %s" % type(plan).__name__)
    if plan.get("version") != PLAN_VERSION:
        raise PlanError("plan version %r is not %d: rebuild it with the copilotos_plan action" % (
            plan.get("version"), PLAN_VERSION))
    for key in ("env", "secret_env", "redis", "paths"):
        if not isinstance(plan.get(key), dict):
            raise PlanError("plan has no %r section" % key)
    return plan


def secret_value(recipe: Mapping[str, Any], redis: Mapping[str, Any], password: str) -> str:
    kind = recipe.get("kind")
    if kind == "password":
        return password
    if kind == "redis_url":
        return build_redis_url(str(redis["host"]), int(redis["port"]), int(recipe["db"]), password=password)
    raise PlanError("unknown secret recipe %r" % kind)


def desired_env(plan: Mapping[str, Any], redis_password: str | None) -> dict[str, str]:
    """Every managed key with its planned value (secret ones need the password).

    Without a password only the public keys are returned.
    """
    out = dict(plan["env"])
    out.update(plan.get("seed_env") or {})
    if redis_password is not None:
        for key, recipe in plan["secret_env"].items():
            out[key] = secret_value(recipe, plan["redis"], redis_password)
    return out


def managed_keys(plan: Mapping[str, Any]) -> list[str]:
    """Names of every key the plan writes, sorted."""
    return sorted(set(plan["env"]) | set(plan.get("seed_env") or {}) | set(plan["secret_env"]))


def proof_keys(plan: Mapping[str, Any]) -> list[str]:
    """Managed keys that count as proof: the seed-named keys never do."""
    seed = set(plan.get("seed_env") or {})
    return [key for key in managed_keys(plan) if key not in seed]


def secret_keys(plan: Mapping[str, Any]) -> list[str]:
    """Keys whose values are masked everywhere (the plan's list plus its secret keys)."""
    return sorted(set(plan.get("secret_keys") or []) | set(plan["secret_env"]))
