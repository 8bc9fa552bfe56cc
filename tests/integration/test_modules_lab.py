"""The six modules against a real incident lab, through ansible-playbook.

env_file writes nasty values, compose_apply recreates the api, and the
container's environment carries exactly those strings; redis_auth reports
the incident's URL defects and passes after the fix; a second run changes
nothing; no secret shows up with -vvv --diff.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers.lab import (
    LabHost,
    container_env,
    docker_inspect,
    lab_down,
    lab_secrets,
    make_inventory,
    run_playbook,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NASTY = {
    "NASTY_DOLLAR": "pa$word$$x${HOME}",
    "NASTY_QUOTES": "it's \"quoted\"",
    "NASTY_HASH": "a #not-a-comment",
    "NASTY_SPACE": "  padded value  ",
    "NASTY_BACKSLASH": "C:\\path\\end\\",
    "NASTY_MIX": "a$b'c\"d#e f\\g!h@i:j/k%l",
    "NASTY_URLISH": "user@host:5432/db?x=1%20&y=!",
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LabHost, Path]]:
    work = tmp_path_factory.mktemp("modules-lab")
    inventory, hosts = make_inventory(work, ["modlab"])
    up = run_playbook("playbooks/lab.yml", inventory, work)
    try:
        assert up.rc == 0, up.stdout[-3000:]
        yield inventory, hosts[0], work
    finally:
        lab_down(inventory, work)


def play(inventory: Path, host: LabHost, work: Path, name: str) -> tuple[object, dict[str, dict]]:
    secrets = lab_secrets(inventory, host.name)
    out = work / ("%s.json" % name)
    encoded = quote(secrets["copilotos_redis_password"], safe="")
    # The lab's default api is the diagnosis generation: its cache dials CELERY_BROKER_URL (/1 -> /0),
    # localhost when unset, so REDIS_URL alone leaves "Error 111" in the logs.
    fix = {"REDIS_URL": "redis://:%s@redis:6379/0" % encoded, "CELERY_BROKER_URL": "redis://:%s@redis:6379/1" % encoded,
           "CORS_ORIGINS": '["https://copiloto.saptiva.com"]'}
    run = run_playbook("tests/integration/playbooks/modules_lab.yml", inventory, work, cmdline="-vvv --diff",
                       extravars={"fix_values": fix, "nasty_values": NASTY, "out_file": str(out)})
    assert run.rc == 0, run.stdout[-4000:]
    for secret in (secrets["copilotos_redis_password"], secrets["copilotos_mongo_password"]):
        for form in (secret, quote(secret, safe="")):
            assert form not in run.stdout
            assert form not in out.read_text()
    return run, json.loads(out.read_text())


def test_modules_fix_the_incident_and_round_trip_nasty_values(lab: tuple[Path, LabHost, Path]) -> None:
    inventory, host, work = lab
    run, results = play(inventory, host, work, "first")
    codes = {f["code"] for f in results["redis_before"]["findings"]}
    assert {"REDIS_URL_LOCALHOST", "REDIS_URL_PASSWORD_MISMATCH"} <= codes
    assert results["redis_before"]["authenticated"] is False

    assert results["env"]["changed"] is True
    assert set(NASTY) <= set(results["env"]["changed_keys"])
    assert results["apply"]["recreated"] is True
    assert results["apply"]["started_at_after"] != results["apply"]["started_at_before"]

    env = container_env(host.container("api"))
    for key, value in NASTY.items():
        assert env[key] == value, key
    assert results["redis_after"]["authenticated"] is True and results["redis_after"]["findings"] == []
    assert results["mongo"]["ok"] is True and results["mongo"]["connections"]["available"] > 0
    assert results["http"]["cors"][0]["allowed"] is True
    assert results["http"]["burst"]["statuses"] == {"200": 10}
    assert results["logs"]["counts"] == {}
    assert run.changed(host.name) > 0

    started = docker_inspect(host.container("api"))["State"]["StartedAt"]
    again, results2 = play(inventory, host, work, "second")
    assert again.changed(host.name) == 0
    assert results2["apply"]["recreated"] is False
    assert results2["apply"]["started_at_after"] == started
    assert docker_inspect(host.container("api"))["State"]["StartedAt"] == started
