"""Settings read from the environment the way pydantic-settings reads them.

The api declares its settings as class annotations with defaults on a
``BaseSettings`` subclass (``config.py``). This module gives them the
behaviour of pydantic-settings 2 with ``case_sensitive=False`` and
``extra="ignore"``, which the real api is configured with:

* a field takes the variable of the same name in any letter case; other
  variables are ignored;
* list fields are decoded as JSON first: a value that is not JSON
  (``https://a,https://b``, ``['https://a']``, an empty value, a bare origin)
  stops the build with ``SettingsError: error parsing value for field "..."
  from source "EnvSettingsSource"``; JSON ``null`` keeps the default;
* then every field is validated and all failures are reported together in a
  ``SettingsValidationError`` laid out like pydantic's ``ValidationError``:
  an int takes ``" 120 "``, ``"+5"``, ``"1_000"`` and ``"120.0"`` but not
  ``"120.5"`` or ``"1e2"``; a bool takes 1/0, true/false, yes/no, on/off,
  t/f, y/n in any case; a list must hold strings only.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Mapping
from typing import Any

_INT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class SettingsError(ValueError):
    """A value that the environment source cannot decode (pydantic-settings' SettingsError)."""


class SettingsValidationError(ValueError):
    """Every field that failed validation, reported at once."""

    def __init__(self, title: str, errors: list[tuple[str, str, str, Any]]) -> None:
        self.errors = errors
        lines = ["%d validation error%s for %s" % (len(errors), "" if len(errors) == 1 else "s", title)]
        for loc, kind, message, value in errors:
            lines.append(loc)
            lines.append("  %s [type=%s, input_value=%r, input_type=%s]" % (message, kind, value,
                                                                          type(value).__name__))
        super().__init__("\n".join(lines))


class _Invalid(Exception):
    def __init__(self, loc: str, kind: str, message: str, value: Any) -> None:
        super().__init__(message)
        self.detail = (loc, kind, message, value)


def parse_int(name: str, value: Any) -> int:
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip().split(".")[0].replace("_", ""))
    raise _Invalid(name, "int_parsing", "Input should be a valid integer, unable to parse string as an integer",
                   value)


def parse_bool(name: str, value: Any) -> bool:
    lowered = value.lower() if isinstance(value, str) else value
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _Invalid(name, "bool_parsing", "Input should be a valid boolean, unable to interpret input", value)


def parse_str_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(name, "list_type", "Input should be a valid list", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _Invalid("%s.%d" % (name, index), "string_type", "Input should be a valid string", item)
    return list(value)


def _is_list(hint: Any) -> bool:
    return typing.get_origin(hint) is list


class BaseSettings:
    """Fields are the annotated class attributes; values come from the environment."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        by_name = {key.lower(): value for key, value in env.items()}
        hints = {name: hint for name, hint in typing.get_type_hints(type(self)).items() if not name.startswith("_")}

        # The environment source: list fields are JSON-decoded, the first
        # failure stops everything.
        raw: dict[str, Any] = {}
        for name, hint in hints.items():
            if name not in by_name:
                continue
            value: Any = by_name[name]
            if _is_list(hint):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise SettingsError('error parsing value for field "%s" from source "EnvSettingsSource"'
                                        % name) from None
                if value is None:
                    continue
            raw[name] = value

        # Validation: every failure is collected.
        errors: list[tuple[str, str, str, Any]] = []
        for name, hint in hints.items():
            default = getattr(type(self), name, None)
            if name not in raw:
                setattr(self, name, list(default) if isinstance(default, list) else default)
                continue
            try:
                setattr(self, name, self._validate(name, hint, raw[name]))
            except _Invalid as exc:
                errors.append(exc.detail)
        if errors:
            raise SettingsValidationError(type(self).__name__, errors)

    @staticmethod
    def _validate(name: str, hint: Any, value: Any) -> Any:
        if hint is bool:
            return parse_bool(name, value)
        if hint is int:
            return parse_int(name, value)
        if _is_list(hint):
            return parse_str_list(name, value)
        if not isinstance(value, str):
            raise _Invalid(name, "string_type", "Input should be a valid string", value)
        return value
