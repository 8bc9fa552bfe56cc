# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every module that talks to Docker or Compose shares (one text, one default)."""

from __future__ import annotations


class ModuleDocFragment:
    # The Docker daemon the module asks (Docker SDK, and Compose where the module runs it).
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - Docker daemon URL, for example C(unix:///var/run/docker.sock) or C(tcp://127.0.0.1:2375).
      - Default from the target's environment, C(DOCKER_HOST), or the local socket. Modules that run Compose pass
        it to Compose as C(DOCKER_HOST).
    type: str
"""

    # The Compose v2 CLI, for the modules that run it.
    COMPOSE = r"""
options:
  compose_command:
    description:
      - The Compose v2 CLI, as a string split like a shell would, or a list (for example C(docker compose) or
        C([docker-compose])).
    type: raw
    default: docker compose
"""
