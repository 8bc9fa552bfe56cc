#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the task runs on the controller, in the action plugin of the
# same name (plugins/action/copilotos_plan.py); nothing of this file reaches a host.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: copilotos_plan
short_description: Validate the remediation inputs and build the run's plan
description:
  - Controller-side. Reads the variables listed in an argument spec entry point from the host's variables,
    validates them (types, choices, and the rules a spec cannot express) and publishes C(copilotos_plan),
    the public plan every later step reads. No secret is in it.
  - A bad input fails here, on the controller, before anything reaches a host.
version_added: "0.1.0"
author: copilotos-remediation contributors (!UNKNOWN)
options:
  spec:
    description: Path of the argument_specs.yml that lists the inputs.
    type: path
    required: true
  entry_point:
    description: The entry point of that spec.
    type: str
    default: plan
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Check mode builds an audit plan (C(mode=audit)).
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Validate the inputs and build the plan
  copilotos_plan:
    spec: "{{ role_path }}/meta/argument_specs.yml"
    entry_point: plan
"""

RETURN = r"""
ansible_facts:
  description: The plan, as the fact C(copilotos_plan).
  returned: success
  type: dict
  contains:
    copilotos_plan:
      description: Mode, paths, Compose project, the managed keys and their values (secrets named, never valued).
      type: dict
      sample:
        version: 1
        host: lab1
        mode: remediate
"""
