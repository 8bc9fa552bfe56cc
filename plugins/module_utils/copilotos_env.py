# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse, update and render Docker Compose env files without losing bytes.

The parser, renderer and updater are pure functions; the file helpers at
the end (``read_env_bytes``, ``make_backup``) do the I/O; writes go through copilotos_common.atomic_write.

Syntax understood (Docker Compose v2 ``env_file``, i.e. the ``dotenv`` package
of compose-go v2.9.1 inside Compose v2.40.3; checked against ``docker compose
config`` by tests/unit/test_env_compose_oracle.py)
-------------------------------------------------------------------------------
"Blank" below means Go's ``unicode.IsSpace`` (Python's ``str.isspace`` minus
``\\x1c``-``\\x1f``, which Compose keeps); "short blank" means one of tab, space,
``\\v``, ``\\f``, ``\\r``, U+0085 and U+00A0, the only ones Compose skips after
``=``, after ``export`` and inside a key.

* A UTF-8 byte order mark at the start is skipped (and kept on rewrite).
* Lines that are blank, or whose first non-blank character is ``#``, are
  kept as they are.
* ``[export ]KEY=VALUE`` or ``[export ]KEY: VALUE`` (YAML style): leading
  blanks and short blanks around the separator are allowed; ``export`` counts
  only when a space or tab follows it (``exportFOO=1`` sets ``exportFOO``,
  ``export =1`` sets the empty name). KEY is made of Unicode letters and
  digits and ``_ . - [ ]`` (a leading digit and the empty name included);
  short blanks inside a key are kept in its name except a plain space, which
  Compose refuses, as any other character.
* A bare ``KEY`` line (no separator, followed by a line break) inherits the
  variable from Compose's environment, or leaves it as set before when the
  environment lacks it: its value is unknown here, so it reads as
  ``literal=False``. The same bare name on the last line *without* a line
  break is what Compose reads as the value of the empty-named variable; so
  does this parser (new keys are then added before that line).
* Unquoted: leading short blanks and trailing blanks are dropped; `` #``
  (a space then ``#``) starts a comment, any other ``#`` is literal
  (``KEY= #c`` therefore reads as ``#c``); backslashes and quotes inside are
  literal; the value ends at the line break.
* Single quotes: literal, ``$`` included. The only escape is ``\\'``; a pair
  ``\\\\`` is kept as two backslashes (so it cannot escape the quote).
* Double quotes: ``\\\\``, ``\\"``, ``\\$``, ``\\n``, ``\\t``, ``\\a``,
  ``\\b``, ``\\f``, ``\\r``, ``\\v`` are escapes, ``\\0`` and three octal
  digits is that character (a ``\\0`` without them loses its ``0``), any
  other backslash is literal.
* Quoted values may span lines; the line breaks inside (CR LF included) are
  part of the value and kept byte for byte.
* After a closing quote only blanks and a ``#`` comment may follow. Compose
  reads other text there as a further assignment on the same line; this
  parser refuses it as a likely mistake (a known difference: a refusal, not
  a misread).
* Interpolation (unquoted and double-quoted values): ``$$`` is a literal
  ``$``; ``$NAME`` and ``${NAME...}`` are interpolated, where NAME matches
  ``[_a-z][_a-z0-9]*`` case-insensitively as Go folds it (so the Kelvin sign
  U+212A and the long s U+017F count as letters); ``${`` without a valid
  name and a closing ``}`` is refused, as Compose does; a ``$`` followed by
  anything else is literal.

A value whose meaning depends on interpolation or on the environment is
decoded with ``literal=False``: it never compares equal to a wanted value, so
a managed key holding one is rewritten. Compose's other refusals that depend
on the environment (``${X?message}`` with X unset) are not detected here.

Rendering rules (``render_value``), chosen so Compose reads back exactly
the wanted string and existing files keep their style
------------------------------------------------------------------------
1. Only ``[A-Za-z0-9_.,:/@%+=!~^-]`` (or empty): unquoted, as is
   (``redis://:pw@redis:6379/0`` stays unquoted).
2. Otherwise, without ``'`` and not ending in an odd run of backslashes:
   single quotes, content verbatim (``'$HOME'``, ``'a b#c'``, ``'\\\\x'``).
3. Otherwise: double quotes, with ``\\`` -> ``\\\\``, ``"`` -> ``\\"`` and
   ``$`` -> ``$$``.
Line breaks and other control characters (tab excepted) cannot be written
safely: ``EnvValueError``. Keys written must match ``[A-Za-z_][A-Za-z0-9_.-]*``.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit

from .copilotos_common import MASK, mask_text, mask_url_passwords

BOM = "\ufeff"
# Keys this toolkit writes; keys it reads follow Compose's wider rules.
KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_SAFE_UNQUOTED_RE = re.compile(r"[A-Za-z0-9_.,:/@%+=!~^-]*\Z")
_FORBIDDEN_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# Go's unicode.IsSpace: Python's str.isspace() without \x1c-\x1f.
_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
    "\u2028\u2029\u202f\u205f\u3000"
_SHORT_BLANK = "\t\v\f\r \x85\xa0"
_KEY_PUNCT = "_.-[]"
# Compose's interpolation names: [_a-z][_a-z0-9]* matched case-insensitively by
# Go, whose case folding also maps the Kelvin sign and the long s to k and s.
_NAME_START = "A-Za-z_\u017f\u212a"
_NAME_RE = re.compile("[%s][%s0-9]*" % (_NAME_START, _NAME_START))
_NAME_START_RE = re.compile("[%s{]" % _NAME_START)
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_OCTAL_RE = re.compile("[0-7]{3}")
_DQ_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}

ASSIGN = "assign"
INHERIT = "inherit"
BARE_EOF = "bare-eof"


class EnvParseError(ValueError):
    """A line that cannot be parsed. The message never quotes the line."""

    def __init__(self, lineno: int, reason: str) -> None:
        super().__init__("line %d: %s" % (lineno, reason))
        self.lineno = lineno
        self.reason = reason


class _Unterminated(Exception):
    """A quoted value that does not end on this line (it may on a later one)."""


class EnvValueError(ValueError):
    """A key or value that cannot be written. The message never quotes a value."""


@dataclass(frozen=True)
class Value:
    """A decoded value. ``literal`` is False when Compose would interpolate it."""

    text: str
    literal: bool = True


@dataclass(frozen=True)
class EnvLine:
    """One entry: a physical line, or several for a multi-line quoted value.

    ``text`` is the entry without its final terminator ``eol`` (line breaks
    inside a multi-line value stay in ``text``). For assignments ``head`` is
    the text up to the value (``export KEY=``), ``raw_value`` the value as
    written and ``suffix`` the trailing blanks and comment, so
    ``text == head + raw_value + suffix``. ``form`` is ``assign``, ``inherit``
    (a bare ``KEY`` line: ``head`` is the text up to the end of the name) or
    ``bare-eof`` (a bare name on the unterminated last line, which Compose
    reads as the value of the empty-named variable).
    """

    text: str
    eol: str
    key: str | None = None
    value: Value | None = None
    head: str = ""
    raw_value: str = ""
    suffix: str = ""
    form: str = ASSIGN


@dataclass
class EnvFile:
    """A parsed env file. ``newline`` is the terminator used for new lines, ``bom`` a leading BOM."""

    lines: list[EnvLine] = field(default_factory=list)
    newline: str = "\n"
    bom: str = ""

    def last_index(self, key: str) -> int | None:
        """Index of the effective (last) line that sets ``key``."""
        for index in range(len(self.lines) - 1, -1, -1):
            if self.lines[index].key == key:
                return index
        return None

    def effective(self) -> dict[str, Value]:
        """The values Compose would use: last assignment wins (a bare ``KEY`` is not literal)."""
        out: dict[str, Value] = {}
        for line in self.lines:
            if line.key is not None and line.value is not None:
                out[line.key] = line.value
        return out

    def duplicates(self) -> list[str]:
        """Sorted names of keys set more than once."""
        seen: set[str] = set()
        dups: set[str] = set()
        for line in self.lines:
            if line.key is not None:
                (dups if line.key in seen else seen).add(line.key)
        return sorted(dups)


@dataclass
class UpdateResult:
    """Outcome of ``update_env``: the new file and the key names touched."""

    env: EnvFile
    added: list[str]
    updated: list[str]
    removed: list[str]
    duplicates: list[str]

    @property
    def changed_keys(self) -> list[str]:
        return sorted(set(self.added) | set(self.updated) | set(self.removed))

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def split_lines(text: str) -> list[tuple[str, str]]:
    """Split into ``(content, eol)`` pairs; ``eol`` is ``\\n``, ``\\r\\n`` or ``""``."""
    out: list[tuple[str, str]] = []
    for piece in text.split("\n"):
        out.append((piece, "\n"))
    last = out.pop()[0]
    if last:
        out.append((last, ""))
    return [(c[:-1], "\r\n") if eol and c.endswith("\r") else (c, eol) for c, eol in out]


def detect_newline(text: str) -> str:
    """The file's line terminator: that of its first line, ``\\n`` by default."""
    index = text.find("\n")
    return "\r\n" if index > 0 and text[index - 1] == "\r" else "\n"


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _rstrip_blanks(text: str) -> str:
    return text.rstrip(_SPACE)


def _braced_end(text: str, start: int, lineno: int) -> int:
    """Check ``${NAME...}`` starting at ``start`` (the ``$``); return the index after its ``}``."""
    name = _NAME_RE.match(text, start + 2)
    if name is None:
        raise EnvParseError(lineno, "invalid interpolation: '${' without a variable name")
    pos = name.end()
    if text.startswith("}", pos):
        return pos + 1
    if not any(text.startswith(op, pos) for op in _OPERATORS):
        raise EnvParseError(lineno, "invalid interpolation: unexpected character after '${' and a name")
    depth = 1
    while pos < len(text):
        if text.startswith("${", pos):
            depth += 1
            pos += 2
            continue
        if text[pos] == "}":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    raise EnvParseError(lineno, "invalid interpolation: '${' without a closing '}'")


def _decode_dollars(text: str, lineno: int = 0) -> Value:
    """Apply Compose's ``$`` rules to text that is subject to interpolation."""
    out: list[str] = []
    literal = True
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$":
            nxt = text[i + 1 : i + 2]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "{":
                end = _braced_end(text, i, lineno)
                out.append(text[i:end])
                literal = False
                i = end
                continue
            if nxt and _NAME_START_RE.match(nxt):
                literal = False
        out.append(char)
        i += 1
    return Value("".join(out), literal)


def _decode_unquoted(rest: str, lineno: int) -> tuple[str, Value, str]:
    """Split an unquoted value into ``(raw, value, suffix)``."""
    cut = rest.find(" #")
    body, comment = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
    raw = _rstrip_blanks(body)
    return raw, _decode_dollars(raw, lineno), body[len(raw) :] + comment


def _check_trailer(trailer: str, lineno: int) -> None:
    stripped = trailer.lstrip(_SPACE)
    if stripped and not stripped.startswith("#"):
        raise EnvParseError(
            lineno, "unexpected text after the closing quote (Compose would read it as another assignment)"
        )


def _decode_single(rest: str, lineno: int) -> tuple[str, Value, str]:
    out: list[str] = []
    i = 1
    while i < len(rest):
        char = rest[i]
        if char == "\\" and i + 1 < len(rest) and rest[i + 1] in "\\'":
            out.append("\\\\" if rest[i + 1] == "\\" else "'")
            i += 2
            continue
        if char == "'":
            _check_trailer(rest[i + 1 :], lineno)
            return rest[: i + 1], Value("".join(out)), rest[i + 1 :]
        out.append(char)
        i += 1
    raise _Unterminated()


def _decode_double(rest: str, lineno: int) -> tuple[str, Value, str]:
    # Like Compose: expand backslash escapes (``\\$`` becoming ``$$``), then
    # apply the ``$`` rules to the result.
    out: list[str] = []
    literal = True
    i = 1
    while i < len(rest):
        char = rest[i]
        if char == "\\" and i + 1 < len(rest):
            nxt = rest[i + 1]
            if nxt == "$":
                out.append("$$")
            elif nxt in _DQ_ESCAPES:
                out.append(_DQ_ESCAPES[nxt])
            elif nxt == "0":
                digits = _OCTAL_RE.match(rest, i + 2)
                if digits is None:
                    out.append("\\")  # Compose drops the 0 and keeps the backslash
                elif int(digits.group(), 8) < 0x80:
                    out.append(chr(int(digits.group(), 8)))
                    i += 3
                else:  # a single byte above 0x7f: not valid UTF-8 on its own
                    literal = False
                    out.append(rest[i : i + 5])
                    i += 3
            else:
                out.append("\\" + nxt)
            i += 2
            continue
        if char == '"':
            _check_trailer(rest[i + 1 :], lineno)
            value = _decode_dollars("".join(out), lineno)
            return rest[: i + 1], Value(value.text, literal and value.literal), rest[i + 1 :]
        out.append(char)
        i += 1
    raise _Unterminated()


def _key_char_ok(char: str) -> bool:
    return char in _KEY_PUNCT or unicodedata.category(char)[0] in "LN"


def parse_line(content: str, eol: str, lineno: int) -> EnvLine:
    """Parse one entry (without its final terminator). Raises EnvParseError.

    ``content`` may hold several physical lines when a quoted value spans
    them; ``parse_env`` joins them. A quoted value not closed in ``content``
    raises EnvParseError here (``parse_env`` first tries the next lines).
    """
    try:
        return _parse_entry(content, eol, lineno)
    except _Unterminated:
        raise EnvParseError(lineno, "unterminated quoted value") from None


def _parse_entry(content: str, eol: str, lineno: int) -> EnvLine:
    pos = _skip(content, 0, _SPACE)
    if pos == len(content) or content[pos] == "#":
        return EnvLine(content, eol)
    if content.startswith("export", pos) and content[pos + 6 : pos + 7] in (" ", "\t"):
        pos = _skip(content, pos + 6, _SHORT_BLANK)
    key_start = pos
    first_line_end = content.find("\n")
    first_line_end = len(content) if first_line_end < 0 else first_line_end
    while pos < first_line_end:
        char = content[pos]
        if char in "=:":
            break
        if char in _SHORT_BLANK or _key_char_ok(char):
            pos += 1
            continue
        raise EnvParseError(lineno, "invalid variable name: unexpected character at column %d" % (pos + 1))
    if pos == first_line_end:  # no separator: a bare name
        name = _rstrip_blanks(content[key_start:])
        end = key_start + len(name)
        if eol == "":
            return EnvLine(content, eol, "", Value(name), content[:key_start], name, content[end:], BARE_EOF)
        if " " in name:
            raise EnvParseError(lineno, "invalid variable name: a key cannot contain a space")
        return EnvLine(content, eol, name, Value("", False), content[:end], "", content[end:], INHERIT)
    key = _rstrip_blanks(content[key_start:pos])
    if " " in key:
        raise EnvParseError(lineno, "invalid variable name: a key cannot contain a space")
    pos = _skip(content, pos + 1, _SHORT_BLANK)
    head, rest = content[:pos], content[pos:]
    if rest.startswith("'"):
        raw, value, suffix = _decode_single(rest, lineno)
    elif rest.startswith('"'):
        raw, value, suffix = _decode_double(rest, lineno)
    else:
        raw, value, suffix = _decode_unquoted(rest, lineno)
    return EnvLine(content, eol, key, value, head, raw, suffix)


def parse_env(text: str) -> EnvFile:
    """Parse a whole env file. Raises EnvParseError with a 1-based line number.

    A leading BOM is kept in ``EnvFile.bom``; a quoted value may span lines.
    """
    bom = BOM if text.startswith(BOM) else ""
    text = text[len(bom) :]
    physical = split_lines(text)
    lines: list[EnvLine] = []
    index = 0
    while index < len(physical):
        lineno = index + 1
        content, eol = physical[index]
        while True:
            try:
                lines.append(_parse_entry(content, eol, lineno))
                break
            except _Unterminated:
                if index + 1 >= len(physical):
                    raise EnvParseError(lineno, "unterminated quoted value") from None
                index += 1
                content += eol + physical[index][0]
                eol = physical[index][1]
        index += 1
    return EnvFile(lines, detect_newline(text), bom)


def serialize(env: EnvFile) -> str:
    """The file text; byte for byte the input of ``parse_env`` if unchanged."""
    return env.bom + "".join(line.text + line.eol for line in env.lines)


def check_key(key: str) -> None:
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise EnvValueError("invalid variable name %r: use [A-Za-z_][A-Za-z0-9_.-]*" % (key,))


def render_value(value: str) -> str:
    """Return the text to put after ``KEY=`` so Compose reads ``value`` back."""
    if _FORBIDDEN_RE.search(value):
        raise EnvValueError("contains a line break or control character, which an env file cannot hold safely")
    if _SAFE_UNQUOTED_RE.match(value):
        return value
    trailing = len(value) - len(value.rstrip("\\"))
    if "'" not in value and trailing % 2 == 0:
        return "'%s'" % value
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")


def _set_line(line: EnvLine, rendered: str, value: str) -> EnvLine:
    head, suffix = line.head, line.suffix
    if line.form == INHERIT:  # "KEY" becomes "KEY=value"
        head, suffix = head + "=", ""
    if rendered == "" and suffix.lstrip(" \t").startswith("#"):
        rendered = "''"  # "KEY= #c" would read as "#c"
    return replace(line, text=head + rendered + suffix, value=Value(value), head=head, raw_value=rendered,
                   suffix=suffix, form=ASSIGN)


def update_env(env: EnvFile, values: Mapping[str, str], absent: Iterable[str] = ()) -> UpdateResult:
    """Ensure ``values`` and remove ``absent`` keys; untouched lines keep their bytes.

    A key whose effective (last) value already decodes to the wanted string is
    left as written. Only the last of duplicated assignments is changed; every
    assignment of an absent key is removed.
    """
    absent = list(absent)
    for key in list(values) + absent:
        check_key(key)
    both = sorted(set(values) & set(absent))
    if both:
        raise EnvValueError("keys both in values and absent: %s" % ", ".join(both))
    rendered = {}
    for key, value in values.items():
        try:
            rendered[key] = render_value(value)
        except EnvValueError as exc:
            raise EnvValueError("value of %s %s" % (key, exc)) from None
    lines = list(env.lines)
    duplicates = env.duplicates()
    added: list[str] = []
    updated: list[str] = []
    removed = sorted({k for k in absent if any(line.key == k for line in lines)})
    lines = [line for line in lines if line.key not in removed]
    work = EnvFile(lines, env.newline, env.bom)
    for key, value in values.items():
        index = work.last_index(key)
        if index is None:
            head = key + "="
            new_line = _set_line(EnvLine(head, env.newline, key, Value(""), head), rendered[key], value)
            if lines and lines[-1].form == BARE_EOF:
                # A line break after it would turn it into "inherit NAME": add before it.
                lines.insert(len(lines) - 1, new_line)
            else:
                if lines and lines[-1].eol == "":
                    lines[-1] = replace(lines[-1], eol=env.newline)
                lines.append(new_line)
            added.append(key)
            continue
        current = lines[index].value
        if current is not None and current.literal and current.text == value:
            continue
        lines[index] = _set_line(lines[index], rendered[key], value)
        updated.append(key)
    return UpdateResult(work, sorted(added), sorted(updated), removed, duplicates)


def url_passwords(values: Iterable[str]) -> list[str]:
    """Passwords found in ``scheme://user:password@`` values (raw and decoded)."""
    found: list[str] = []
    for value in values:
        if "://" not in value or "@" not in value:
            continue
        try:
            password = urlsplit(value.strip()).password
        except ValueError:
            continue
        if password:
            found.extend([password, unquote(password)])
    return found


def _url_with_masked_password(value: str) -> str | None:
    """A secret key's URL with only its password masked, so a diff still shows scheme, host and database.

    Only for a plain ``scheme://[user]:password@host[:port][/path]`` value: anything else
    (no password, a query string or fragment that may carry a token, blanks) is masked whole.
    """
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.password or parts.query or parts.fragment or any(c.isspace() for c in value):
        return None
    return "%s://%s:%s@%s%s" % (parts.scheme, parts.username or "", MASK, parts.netloc.rpartition("@")[2], parts.path)


def mask_env(env: EnvFile, secret_keys: Sequence[str], secrets: Iterable[str] = ()) -> str:
    """The file text for a diff: secret keys' values replaced by MASK.

    Also masks every known secret form anywhere (plain and percent-encoded)
    and any URL userinfo password, so ``REDIS_URL``/``MONGODB_URL`` never
    show a password.
    """
    all_secrets = list(secrets)
    parts: list[str] = []
    for line in env.lines:
        text = line.text
        if line.key is not None and line.value is not None and line.form != INHERIT:
            all_secrets.extend(url_passwords([line.value.text, line.raw_value]))
            if line.key in secret_keys:
                shown = _url_with_masked_password(line.value.text)
                all_secrets.extend([line.value.text, line.raw_value])
                text = line.head + (shown or MASK) + line.suffix
        parts.append(text + line.eol)
    return mask_url_passwords(mask_text(env.bom + "".join(parts), all_secrets))


# --- File helpers ------------------------------------------------------------


def read_env_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def backup_name(path: str, backup_dir: str | None = None, now: float | None = None) -> str:
    """``<dir>/<name>.<UTC timestamp>.bak``; a counter is added if it exists."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    directory = backup_dir or os.path.dirname(os.path.abspath(path))
    base = os.path.join(directory, "%s.%s" % (os.path.basename(path), stamp))
    candidate, counter = base + ".bak", 0
    while os.path.lexists(candidate):
        counter += 1
        candidate = "%s.%d.bak" % (base, counter)
    return candidate


def make_backup(path: str, data: bytes, backup_dir: str | None = None) -> str:
    """Write ``data`` (the file's current bytes) to a new 0600 backup file."""
    if backup_dir and not os.path.isdir(backup_dir):
        os.makedirs(backup_dir, mode=0o700)
    target = backup_name(path, backup_dir)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return target
