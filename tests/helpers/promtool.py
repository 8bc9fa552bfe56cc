"""promtool (Debian's ``prometheus`` package): a missing one fails the test, naming the package."""

from __future__ import annotations

import shutil
import subprocess

PACKAGE_HINT = (
    "promtool is missing: install Debian's prometheus package "
    "(RUNLEVEL=1 apt-get install -y --no-install-recommends prometheus); scripts/setup-toolchain.sh does so"
)


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, PACKAGE_HINT
    return path


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics`` on ``text`` (stdin); returncode 0 when it is valid and lint-clean."""
    return subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``promtool <args>``."""
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, check=False)
