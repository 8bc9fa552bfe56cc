# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse, update and render Docker Compose env files without losing bytes.

The parser, renderer and updater are pure functions; the file helpers at
the end (``read_env_bytes``, ``make_backup``, ``atomic_write``) do the I/O.

Syntax understood (Docker Compose v2 ``env_file``; verified against Compose
v2.40.3 with ``docker compose config`` and a real container's ``Config.Env``)
-----------------------------------------------------------------------------
* Blank lines and lines whose first non-blank character is ``#`` are kept
  as they are.
* ``[export ]KEY=VALUE``; leading blanks and blanks around ``=`` are
  allowed. KEY matches ``[A-Za-z_][A-Za-z0-9_.-]*``. A line without ``=``
  (Compose reads it as "inherit from the environment"), a key starting with
  a digit and a key with a blank inside are rejected, with the line number.
* Unquoted: leading and trailing blanks are dropped; `` #`` (blank then
  ``#``) starts a comment, a ``#`` without a blank before it is literal
  (``KEY= #c`` therefore reads as ``#c``); backslashes and quotes inside are
  literal; ``$$`` is a literal ``$``; ``$NAME``/``${...}`` is interpolated;
  a ``$`` followed by anything else is literal.
* Single quotes: literal, ``$`` included. The only escape is ``\\'``; a pair
  ``\\\\`` is kept as two backslashes (so it cannot escape the quote).
* Double quotes: ``\\\\``, ``\\"``, ``\\$``, ``\\n``, ``\\t``, ``\\a``,
  ``\\b``, ``\\f``, ``\\r``, ``\\v`` are escapes, any other backslash is
  literal; ``$$`` is a literal ``$``; ``$NAME`` is interpolated.
* After a closing quote only blanks and a ``#`` comment may follow (Compose
  silently drops other text; this parser rejects it as a likely mistake).
  A quoted value spanning several lines is rejected (unterminated quote).

A value whose meaning depends on interpolation (or an escape this parser
does not model, such as ``\\0``) is decoded with ``literal=False``: it never
compares equal to a wanted value, so a managed key holding one is rewritten.

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
safely: ``EnvValueError``.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit

try:
    from ansible.module_utils.copilotos_common import MASK, mask_text, mask_url_passwords
except ImportError:  # pragma: no cover - running outside Ansible's loader
    from copilotos_common import MASK, mask_text, mask_url_passwords  # type: ignore[no-redef]

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_ASSIGN_RE = re.compile(r"(?P<lead>[ \t]*)(?P<export>export[ \t]+)?(?P<key>[^=\s]+)(?P<eq>[ \t]*=[ \t]*)")
_SAFE_UNQUOTED_RE = re.compile(r"[A-Za-z0-9_.,:/@%+=!~^-]*\Z")
_FORBIDDEN_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAME_START_RE = re.compile(r"[A-Za-z_{]")
_DQ_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}


class EnvParseError(ValueError):
    """A line that cannot be parsed. The message never quotes the line."""

    def __init__(self, lineno: int, reason: str) -> None:
        super().__init__("line %d: %s" % (lineno, reason))
        self.lineno = lineno
        self.reason = reason


class EnvValueError(ValueError):
    """A key or value that cannot be written. The message never quotes a value."""


@dataclass(frozen=True)
class Value:
    """A decoded value. ``literal`` is False when Compose would interpolate it."""

    text: str
    literal: bool = True


@dataclass(frozen=True)
class EnvLine:
    """One physical line: ``text`` without its terminator ``eol``.

    For assignments ``head`` is the text up to the value (``export KEY=``),
    ``raw_value`` the value as written and ``suffix`` the trailing blanks and
    comment, so ``text == head + raw_value + suffix``.
    """

    text: str
    eol: str
    key: str | None = None
    value: Value | None = None
    head: str = ""
    raw_value: str = ""
    suffix: str = ""


@dataclass
class EnvFile:
    """A parsed env file. ``newline`` is the terminator used for new lines."""

    lines: list[EnvLine] = field(default_factory=list)
    newline: str = "\n"

    def last_index(self, key: str) -> int | None:
        """Index of the effective (last) line that sets ``key``."""
        for index in range(len(self.lines) - 1, -1, -1):
            if self.lines[index].key == key:
                return index
        return None

    def effective(self) -> dict[str, Value]:
        """The values Compose would use: last assignment wins."""
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


def _decode_dollars(text: str, start_literal: bool = True) -> Value:
    """Apply Compose's ``$`` rules to text that is subject to interpolation."""
    out: list[str] = []
    literal = start_literal
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$":
            nxt = text[i + 1 : i + 2]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt and _NAME_START_RE.match(nxt):
                literal = False
        out.append(char)
        i += 1
    return Value("".join(out), literal)


def _decode_unquoted(rest: str) -> tuple[str, Value, str]:
    """Split an unquoted value into ``(raw, value, suffix)``."""
    cut = rest.find(" #")
    body, comment = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
    raw = body.rstrip()
    return raw, _decode_dollars(raw), body[len(raw) :] + comment


def _check_trailer(trailer: str, lineno: int) -> None:
    stripped = trailer.lstrip(" \t")
    if stripped and not stripped.startswith("#"):
        raise EnvParseError(lineno, "unexpected text after the closing quote")


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
    raise EnvParseError(lineno, "unterminated single quote (multi-line values are not supported)")


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
            else:
                literal = literal and nxt not in "0ox"  # octal/hex: Compose is inconsistent
                out.append("\\" + nxt)
            i += 2
            continue
        if char == '"':
            _check_trailer(rest[i + 1 :], lineno)
            value = _decode_dollars("".join(out))
            return rest[: i + 1], Value(value.text, literal and value.literal), rest[i + 1 :]
        out.append(char)
        i += 1
    raise EnvParseError(lineno, "unterminated double quote (multi-line values are not supported)")


def parse_line(content: str, eol: str, lineno: int) -> EnvLine:
    """Parse one line (without terminator). Raises EnvParseError."""
    stripped = content.strip()
    if not stripped or stripped.startswith("#"):
        return EnvLine(content, eol)
    match = _ASSIGN_RE.match(content)
    if match is None:
        if "=" not in content:
            raise EnvParseError(lineno, "no '=' in an assignment line")
        raise EnvParseError(lineno, "invalid variable name")
    key = match.group("key")
    if not KEY_RE.match(key):
        raise EnvParseError(lineno, "invalid variable name")
    head, rest = content[: match.end()], content[match.end() :]
    if rest.startswith("'"):
        raw, value, suffix = _decode_single(rest, lineno)
    elif rest.startswith('"'):
        raw, value, suffix = _decode_double(rest, lineno)
    else:
        raw, value, suffix = _decode_unquoted(rest)
    return EnvLine(content, eol, key, value, head, raw, suffix)


def parse_env(text: str) -> EnvFile:
    """Parse a whole env file. Raises EnvParseError with a 1-based line number."""
    lines = [parse_line(content, eol, n) for n, (content, eol) in enumerate(split_lines(text), start=1)]
    return EnvFile(lines, detect_newline(text))


def serialize(env: EnvFile) -> str:
    """The file text; byte for byte the input of ``parse_env`` if unchanged."""
    return "".join(line.text + line.eol for line in env.lines)


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
    suffix = line.suffix
    if rendered == "" and suffix.lstrip(" \t").startswith("#"):
        rendered = "''"  # "KEY= #c" would read as "#c"
    return replace(line, text=line.head + rendered + suffix, value=Value(value), raw_value=rendered)


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
    work = EnvFile(lines, env.newline)
    for key, value in values.items():
        index = work.last_index(key)
        if index is None:
            if lines and lines[-1].eol == "":
                lines[-1] = replace(lines[-1], eol=env.newline)
            head = key + "="
            lines.append(_set_line(EnvLine(head, env.newline, key, Value(""), head), rendered[key], value))
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
        if line.key is not None and line.value is not None:
            all_secrets.extend(url_passwords([line.value.text, line.raw_value]))
            if line.key in secret_keys:
                shown = _url_with_masked_password(line.value.text)
                all_secrets.extend([line.value.text, line.raw_value])
                text = line.head + (shown or MASK) + line.suffix
        parts.append(text + line.eol)
    return mask_url_passwords(mask_text("".join(parts), all_secrets))


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


def atomic_write(path: str, data: bytes, mode: int = 0o600, uid: int | None = None, gid: int | None = None) -> None:
    """Replace ``path`` atomically: temp file in the same directory, fsync, rename, fsync dir.

    The temp file gets ``mode`` and, when given, ``uid``/``gid`` before the
    rename, so the file never exists with looser permissions or another
    owner. Raises OSError (the temp file is removed) when that fails.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if uid is not None and gid is not None:
                stat = os.fstat(handle.fileno())
                if (stat.st_uid, stat.st_gid) != (uid, gid):
                    os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
