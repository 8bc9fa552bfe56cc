#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: copilotos_verify
short_description: Prove a copilotos api works, by effect, in one pass
description:
  - Runs every probe of the live api concurrently and returns one verdict. Redis - each Redis client of the api is
    tried with the URL this generation of the application builds from the container's environment, and Redis's own
    C(CLIENT LIST) must show an authenticated connection from the api container made after it started. MongoDB - a
    ping with the api's own URI and the pool (serverStatus). HTTP - health, liveness, readiness, a CORS preflight per
    production origin with a Host that C(ALLOWED_HOSTS) accepts, a concurrent burst. The rate limit - by behaviour
    from a throwaway container of the api's image on the project network, only with I(rate_limit_probe=behaviour).
    The api's log - no error signature since it started, watched for I(watch_seconds).
  - Failed observations are symptoms, put under the causes the rules found (I(causes)), or under the causes found
    by judging the recreated container against the plan (I(judge=true)).
  - The probes are the code of the single-purpose modules redis_auth, mongo_ping, http_probe and container_logs.
version_added: "1.0.0"
author:
  - copilotos-remediation contributors (!UNKNOWN)
options:
  plan:
    description: The run's plan (the C(copilotos_plan) fact).
    type: dict
    required: true
  redis_password:
    description: The real Redis password (for C(CLIENT LIST) and the expected password of each client).
    type: str
    required: true
  generation:
    description: The application generation copilotos_state detected (C(diagnosis) or C(current)).
    type: str
  causes:
    description: The causes of copilotos_state, when this run changed nothing; the symptoms go under them.
    type: list
    elements: dict
    default: []
  judge:
    description: Judge the running container against the plan (after this run changed it).
    type: bool
    default: false
  api_url:
    description: Base URL of the api as reachable from the target, e.g. C(http://127.0.0.1:8081).
    type: str
    required: true
  host_header:
    description: Host header of the HTTP probes; default is the first host of the api's C(ALLOWED_HOSTS).
    type: str
  burst:
    description: Concurrent health requests (0 disables the burst).
    type: int
    default: 50
  watch_seconds:
    description: Seconds to keep watching the api's log (give 0 when the api was not recreated).
    type: int
    default: 0
  redis_wait_seconds:
    description: Seconds to wait for the api's connection to appear in C(CLIENT LIST).
    type: int
    default: 10
  rate_limit_probe:
    description: C(behaviour) sends C(RATE_LIMIT_CALLS)+1 requests from a throwaway container (never on production);
      C(off) skips it.
    type: str
    choices: [behaviour, "off"]
    default: "off"
  api_replicas:
    description: Api replicas sharing the MongoDB connection budget.
    type: int
    default: 1
  probes:
    description: Which probes run.
    type: list
    elements: str
    choices: [redis, mongo, http, logs]
    default: [redis, mongo, http, logs]
  fail_on:
    description: Severities of causes that fail the verification.
    type: list
    elements: str
    default: [critical, medium]
  mode:
    description: C(enforce) fails the task when causes reach I(fail_on); C(audit) only reports.
    type: str
    choices: [enforce, audit]
    default: enforce
extends_documentation_fragment:
  - copilotos_docker
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads only (the rate-limit probe's throwaway container is the one thing it starts).
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Verify the live system
  copilotos_verify:
    plan: "{{ copilotos_plan }}"
    redis_password: "{{ copilotos_redis_password }}"
    generation: "{{ copilotos_state.app.generation }}"
    api_url: http://127.0.0.1:8081
    judge: true
    watch_seconds: 5
"""

RETURN = r"""
steps:
  description: One of passed, failed or skipped per step (container_env, containers, redis_auth, redis_clients,
    mongo_ping, health, cors, burst, rate_limit, logs).
  returned: always
  type: dict
causes:
  description: The causes, each with its symptoms.
  returned: always
  type: list
  elements: dict
symptoms:
  description: Every failed observation (also listed under its cause).
  returned: always
  type: list
  elements: dict
probes:
  description: What each probe saw (masked).
  returned: always
  type: dict
failed_verification:
  description: Whether causes reach I(fail_on).
  returned: always
  type: bool
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.copilotos_common import ModuleFailure, finish
from ansible.module_utils.copilotos_docker import DOCKER_ARGS, DOCKER_IMPORT_ERROR, DockerError, get_client
from ansible.module_utils.copilotos_plan import PlanError, check_plan
from ansible.module_utils.copilotos_verify import verify


def run(module: AnsibleModule) -> dict[str, Any]:
    p = dict(module.params)
    try:
        check_plan(p["plan"])
    except PlanError as exc:
        raise ModuleFailure(str(exc)) from None
    for name in ("redis", "mongo", "http", "logs"):
        p[name] = name in p["probes"]
    try:
        return verify(p, get_client(p["docker_host"]))
    except DockerError as exc:
        raise ModuleFailure("copilotos_verify: %s" % exc) from None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type="dict", required=True),
            redis_password=dict(type="str", required=True, no_log=True),
            generation=dict(type="str"),
            causes=dict(type="list", elements="dict", default=[]),
            judge=dict(type="bool", default=False),
            api_url=dict(type="str", required=True),
            host_header=dict(type="str"),
            burst=dict(type="int", default=50),
            watch_seconds=dict(type="int", default=0),
            redis_wait_seconds=dict(type="int", default=10),
            rate_limit_probe=dict(type="str", choices=["behaviour", "off"], default="off"),
            api_replicas=dict(type="int", default=1),
            probes=dict(type="list", elements="str", choices=["redis", "mongo", "http", "logs"],
                        default=["redis", "mongo", "http", "logs"]),
            fail_on=dict(type="list", elements="str", default=["critical", "medium"]),
            mode=dict(type="str", choices=["enforce", "audit"], default="enforce"),
            **DOCKER_ARGS,
        ),
        supports_check_mode=True,
    )
    for lib in ("docker",):
        if DOCKER_IMPORT_ERROR:
            module.fail_json(msg=missing_required_lib(lib), exception=DOCKER_IMPORT_ERROR)
    finish(module, run, fail_if=lambda result: module.params["mode"] == "enforce" and result["failed_verification"])


if __name__ == "__main__":
    main()
