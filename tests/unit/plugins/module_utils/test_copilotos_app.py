"""copilotos_app: the toolkit's facts of how copilotos-bridge reads its configuration, per generation."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils import copilotos_app as app

ROOT = Path(__file__).resolve().parents[4]
PASSWORD = "S3cretRedisPassw0rd"

# The diagnosis's api environment: REDIS_URL with a placeholder, the broker at its default.
INCIDENT = {
    "REDIS_URL": "redis://:CHANGE_ME@localhost:6379/0",
    "REDIS_PASSWORD": PASSWORD,
    "REDIS_HOST": "redis",
    "CORS_ORIGINS": '["https://copiloto.saptiva.com"]',
    "RATE_LIMIT_CALLS": "100",
    "RATE_LIMIT_PERIOD": "60",
    "RATE_LIMIT_REQUESTS_PER_MINUTE": "200",
    "DB_CONNECTION_TIMEOUT_MS": "5000",
}


def clients(env: dict[str, str], generation: str) -> dict[str, dict]:
    return {c["client"]: c for c in app.redis_clients(env, generation)}


def test_diagnosis_cache_dials_the_celery_broker_default_at_localhost() -> None:
    got = clients(INCIDENT, "diagnosis")
    assert got["cache"]["key"] == "CELERY_BROKER_URL"
    assert got["cache"]["target"]["host"] == "localhost"
    # The main client builds its URL from REDIS_PASSWORD and REDIS_HOST, not from REDIS_URL.
    assert got["token_blacklist"]["key"] == "REDIS_PASSWORD"
    assert got["token_blacklist"]["target"]["host"] == "redis"
    assert PASSWORD not in got["token_blacklist"]["url_masked"]


def test_diagnosis_cache_turns_broker_db_1_into_0() -> None:
    env = dict(INCIDENT, CELERY_BROKER_URL="redis://:%s@redis:6379/1" % PASSWORD)
    cache = clients(env, "diagnosis")["cache"]
    assert cache["target"]["host"] == "redis"
    assert cache["target"]["db"] == 0


def test_diagnosis_uses_redis_url_only_without_a_valid_password() -> None:
    env = dict(INCIDENT, REDIS_PASSWORD="short")
    assert clients(env, "diagnosis")["token_blacklist"]["key"] == "REDIS_URL"


def test_current_generation_reads_redis_url_for_both_clients() -> None:
    got = clients(INCIDENT, "current")
    assert {c["key"] for c in got.values()} == {"REDIS_URL"}
    assert got["cache"]["target"]["host"] == "localhost"


def test_diagnosis_builds_its_url_without_encoding() -> None:
    assert app.unencodable_password("a:b/c@d") == [":", "/", "@"]
    assert app.unencodable_password("lettersAnd123") == []


def test_rate_limit_is_calls_per_period_and_the_seed_key_is_inert() -> None:
    settings = app.effective_settings(INCIDENT, "diagnosis")
    assert settings["rate_limit"]["calls"]["value"] == 100
    assert settings["rate_limit"]["period"]["value"] == 60
    inert = {i["key"]: i["read_instead"] for i in settings["inert_keys"]}
    assert inert["RATE_LIMIT_REQUESTS_PER_MINUTE"] == "RATE_LIMIT_CALLS"
    assert inert["DB_CONNECTION_TIMEOUT_MS"] == "DB_CONNECT_TIMEOUT_MS"


def test_saptiva_connect_timeout_is_code_in_diagnosis_and_env_in_current() -> None:
    env = dict(INCIDENT, SAPTIVA_CONNECT_TIMEOUT="15")
    assert app.effective_settings(env, "diagnosis")["saptiva"]["connect_timeout"]["source"] == "code"
    assert app.effective_settings(env, "current")["saptiva"]["connect_timeout"]["value"] == 15.0


def test_comma_separated_cors_stops_the_api_at_start() -> None:
    env = dict(INCIDENT, CORS_ORIGINS="https://a.example,https://b.example")
    rejected = app.startup_rejections(env, "diagnosis")
    assert [r["code"] for r in rejected] == ["SETTINGS_PARSE_ERROR"]
    assert rejected[0]["key"] == "CORS_ORIGINS"
    assert not app.effective_settings(env, "diagnosis")["starts"]


@pytest.mark.parametrize(
    ("value", "code"),
    [(None, "SECRET_MISSING"), ("   ", "SECRET_EMPTY"), ("tooshort", "SECRET_TOO_SHORT")],
)
def test_production_secret_checks(value: str | None, code: str) -> None:
    env = {"NODE_ENV": "production", "JWT_SECRET_KEY": "j" * 40, "SECRET_KEY": "s" * 40}
    if value is None:
        del env["JWT_SECRET_KEY"]
    else:
        env["JWT_SECRET_KEY"] = value
    rejected = [r for r in app.startup_rejections(env, "current") if r["key"] == "JWT_SECRET_KEY"]
    assert [r["code"] for r in rejected] == [code]
    if value and value.strip():  # the message names the key, never the value
        assert all(value not in r["message"] for r in rejected)


def test_no_rejection_outside_production() -> None:
    assert app.startup_rejections({"NODE_ENV": "development"}, "current") == []


@pytest.mark.parametrize("generation", app.GENERATIONS)
def test_generation_is_detected_from_the_lab_images_source(generation: str) -> None:
    """The lab's stand-in carries the same markers as the real source, at the upstream paths."""
    base = ROOT / "lab" / "image" / "apps"
    overlay = ROOT / "lab" / "image" / "overlays" / generation / "apps"
    files = {}
    for name, meta in app.SOURCE_FILES.items():
        rel = meta["repo_path"].removeprefix("apps/")
        path = overlay / rel if (overlay / rel).is_file() else base / rel
        files[name] = path.read_text() if path.is_file() else None
    detected = app.detect_generation(files)
    assert detected["generation"] == generation, detected
    assert detected["evidence"] and not detected["conflicts"]


def test_unknown_generation_is_refused() -> None:
    with pytest.raises(ValueError):
        app.effective_settings({}, "future")
