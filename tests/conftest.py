"""Test-wide setup: make the project's module_utils and modules importable."""

from __future__ import annotations

import os
import sys

import ansible.module_utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")
LIBRARY = os.path.join(ROOT, "library")

# The modules import their helpers as ``ansible.module_utils.copilotos_*``,
# which is how Ansible ships them to the target; mirror that here.
if MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(MODULE_UTILS)
if LIBRARY not in sys.path:
    sys.path.insert(0, LIBRARY)
# The controller plugins import them by the collection's name, which
# collections/ (a link back to this checkout) serves, as ansible.cfg says.
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)



import pytest  # noqa: E402
from ansible.module_utils import _internal as _ansible_internal  # noqa: E402
from ansible.module_utils.common import warnings as _ansible_warnings  # noqa: E402


@pytest.fixture(autouse=True)
def _module_side_of_ansible(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules run in-process in unit tests: make them behave as on a target.

    Once any controller code is imported (a callback or lookup test), Ansible
    flags the process as the controller and module warnings go to the display
    instead of the result; its warning registry also deduplicates across runs.
    """
    if "/plugins/modules/" not in str(request.node.path):
        return
    monkeypatch.setattr(_ansible_internal, "is_controller", False)
    for name in ("_global_warnings", "_global_deprecations"):
        registry = getattr(_ansible_warnings, name, None)
        if hasattr(registry, "clear"):
            registry.clear()
