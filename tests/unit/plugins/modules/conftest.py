"""Shared runner for module-level unit tests: main() with patched arguments, result parsed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

ModuleRunner = Callable[..., dict[str, Any]]


def invoke_module(
    main: Callable[[], None], capsys: pytest.CaptureFixture[str], check: bool = False, diff: bool = False, **args: Any
) -> tuple[dict[str, Any], str]:
    """Run a module's main() in-process; return its parsed result and its raw output."""
    args = {k: str(v) if isinstance(v, Path) else v for k, v in args.items()}
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    with patch_module_args(args), pytest.raises(SystemExit):
        main()
    out = capsys.readouterr().out
    return dict(json.loads(out)), out


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str]) -> ModuleRunner:
    """``run_module(module.main, check=False, diff=False, **args)`` returns the module's JSON result."""

    def runner(main: Callable[[], None], check: bool = False, diff: bool = False, **args: Any) -> dict[str, Any]:
        return invoke_module(main, capsys, check, diff, **args)[0]

    return runner
