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
