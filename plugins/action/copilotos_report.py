# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for copilotos_report: write the reports in the controller's worker process.

The reports are controller-side output, so sending the module to localhost
only cost a module round trip per host (AnsiballZ, a Python start, the
imports). This plugin validates the same argument spec and runs the same code
(``copilotos_report_io.produce``) where the task already is. The module
(library/copilotos_report.py) keeps the documentation and works on its own.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.copilotos.remediation.plugins.module_utils.copilotos_common import ModuleFailure
from ansible_collections.copilotos.remediation.plugins.module_utils.copilotos_report import ARGUMENT_SPEC
from ansible_collections.copilotos.remediation.plugins.module_utils.copilotos_report_io import produce


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        try:
            params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        except AnsibleActionFail as exc:  # names the bad option; the task's arguments stay out of the result
            result.update(failed=True, msg=exc.message)
            return result
        try:
            produced, warnings = produce(params, bool(self._task.check_mode))
        except ModuleFailure as exc:
            result.update(failed=True, msg=exc.msg, **exc.facts)
            return result
        result.update(produced)
        if warnings:
            result["warnings"] = warnings
        return result
