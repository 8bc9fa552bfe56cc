"""copilotos_rules: the live state judged against the plan, as the real application reads it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils import copilotos_rules as rules
from ansible.module_utils.copilotos_common import MASK
from ansible.module_utils.copilotos_plan import desired_env
from ansible.module_utils.copilotos_state import Raw
from ansible.parsing.vault import VaultLib, VaultSecret

ROOT = Path(__file__).resolve().parents[4]
PASSWORD = "S3cretRedisPassw0rd"


def _action() -> Any:
    spec = importlib.util.spec_from_file_location("copilotos_plan_action", ROOT / "plugins/action/copilotos_plan.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_plan(**overrides: Any) -> dict[str, Any]:
    """The plan the action builds from the role's defaults (the one place they live) and a host's inventory."""
    params = yaml.safe_load((ROOT / "roles/copilotos_env/defaults/main.yml").read_text())
    params.update(copilotos_project_dir="/srv/copilotos", copilotos_compose_project="copilotos",
                  copilotos_compose_project_dir=None, copilotos_compose_files=[], copilotos_api_port=8001)
    params.update(overrides)
    return _action().build_plan(params, "h1", False, {"user": "ops"})


# The api's environment in the incident, as the container has it.
INCIDENT_CONTAINER = {
    "REDIS_URL": "redis://:CHANGE_ME@localhost:6379/0",
    "REDIS_PASSWORD": PASSWORD,
    "REDIS_HOST": "redis",
    "CORS_ORIGINS": '["https://copiloto.saptiva.com"]',
    "RATE_LIMIT_CALLS": "100",
    "RATE_LIMIT_PERIOD": "60",
    "DB_MAX_POOL_SIZE": "100",
}


def facts(generation: str) -> dict[str, Any]:
    return {"app": {"generation": generation}, "api": {"id": "c1", "name": "copilotos-api-1"},
            "containers": [{"name": "copilotos-api-1", "service": "api", "status": "running", "health": "healthy"}],
            "override": {"current": True}, "env_file": {"path": "/srv/copilotos/.env.production", "lines": {}}}


def codes(causes: list[dict[str, Any]]) -> set[str]:
    return {c["code"] for c in causes}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("redis://:%s@redis:6379/0" % PASSWORD, "redis://:%s@redis:6379/0" % MASK),
        ('["http://localhost:3000","https://copiloto.saptiva.com"]',
         '["http://localhost:3000","https://copiloto.saptiva.com"]'),
        ("plain-secret-value", MASK),
    ],
)
def test_shown_masks_urls_and_secrets_but_keeps_lists_readable(value: str, expected: str) -> None:
    secret = {"REDIS_URL", "SAPTIVA_API_KEY"}
    key = "SAPTIVA_API_KEY" if value == "plain-secret-value" else ("REDIS_URL" if value.startswith("redis") else
                                                                    "CORS_ORIGINS")
    assert rules.shown(key, value, secret) == expected


def test_shown_masks_a_url_password_inside_a_list() -> None:
    assert PASSWORD not in (rules.shown("X", '["redis://:%s@r:1/0"]' % PASSWORD, set()) or "")


def test_diagnosis_incident_names_the_broker_at_localhost_and_the_tight_limit() -> None:
    plan = make_plan()
    causes, drift = rules.evaluate(plan, PASSWORD, facts("diagnosis"), Raw(container=dict(INCIDENT_CONTAINER)))
    got = codes(causes)
    assert {"REDIS_CLIENTS_MISCONFIGURED", "CORS_ORIGIN_MISSING", "RATE_LIMIT_BELOW_PLAN",
            "MONGO_POOL_AGGRESSIVE"} <= got
    redis = next(c for c in causes if c["code"] == "REDIS_CLIENTS_MISCONFIGURED")
    assert [c["source"] for c in redis["evidence"]["clients"]] == ["CELERY_BROKER_URL"]
    assert "localhost:6379" in redis["message"]
    assert PASSWORD not in repr(causes)
    assert drift["change"] and "CELERY_BROKER_URL" in drift["pending_keys"]


def test_current_generation_blames_redis_url_for_both_clients() -> None:
    plan = make_plan()
    causes, _drift = rules.evaluate(plan, PASSWORD, facts("current"), Raw(container=dict(INCIDENT_CONTAINER)))
    redis = next(c for c in causes if c["code"] == "REDIS_CLIENTS_MISCONFIGURED")
    assert {c["source"] for c in redis["evidence"]["clients"]} == {"REDIS_URL"}


def test_shadowing_environment_block_is_a_cause_until_the_override_is_current() -> None:
    plan = make_plan()
    raw = Raw(env_file=dict(desired_env(plan, PASSWORD)), container={},
              environment_block=[("CORS_ORIGINS", '["https://copiloto.saptiva.com"]'), ("WORKERS", "4")],
              effective={"CORS_ORIGINS": '["https://copiloto.saptiva.com"]'})
    shadow = dict(facts("diagnosis"), override={"current": False})
    causes, drift = rules.evaluate(plan, PASSWORD, shadow, raw)
    found = next(c for c in causes if c["code"] == "COMPOSE_SHADOWS_ENV_FILE")
    assert found["evidence"]["keys"] == ["CORS_ORIGINS"]  # WORKERS is not managed
    assert drift["shadowed_keys"] == ["CORS_ORIGINS"] and drift["change"]
    causes, _drift = rules.evaluate(plan, PASSWORD, facts("diagnosis"), raw)
    assert "COMPOSE_SHADOWS_ENV_FILE" not in codes(causes)


def test_tuned_plan_is_what_the_container_is_judged_against() -> None:
    plan = make_plan(copilotos_env_db_max_pool_size=80, copilotos_env_rate_limit_calls=700)
    env = desired_env(plan, PASSWORD)
    env.update(NODE_ENV="development")
    causes = rules.judge_running(plan, PASSWORD, facts("current"), Raw(container=env))
    assert codes(causes) <= {"INERT_KEY"}, [c["message"] for c in causes]


def test_unencodable_password_refuses_in_the_diagnosis_generation_only() -> None:
    plan = make_plan()
    password = "p@ss/w:rd-long-enough"
    raw = Raw(container={})
    causes, drift = rules.evaluate(plan, password, facts("diagnosis"), raw)
    assert "REDIS_PASSWORD_UNENCODABLE" in drift["refuse"]
    assert password not in repr(causes)
    causes, drift = rules.evaluate(plan, password, facts("current"), raw)
    assert "REDIS_PASSWORD_UNENCODABLE" not in drift["refuse"]


def test_the_example_vaults_placeholder_is_refused() -> None:
    action = _action()
    example = (ROOT / "inventory/production/group_vars/copilotos/vault.yml").read_text()
    assert "$ANSIBLE_VAULT" in example  # the shipped example is encrypted; its values start with the prefix
    vault = VaultLib([("default", VaultSecret(b"copilotos-example-only"))])
    values = yaml.safe_load(vault.decrypt(example))
    secrets = {"copilotos_" + k.removeprefix("vault_copilotos_"): v for k, v in values.items()}
    assert set(secrets) == set(action.VAULT_SECRET_VARS)
    errors = action.placeholder_errors(secrets)
    assert len(errors) == 2 and all("example vault's placeholder" in e and "README.md" in e for e in errors)
    assert action.placeholder_errors({"copilotos_mongo_password": "change-me-too"})
    assert action.placeholder_errors({"copilotos_redis_password": PASSWORD, "copilotos_mongo_password": None}) == []
