# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for Redis URLs and MongoDB URIs: parse, check, build, mask.

Passwords in URLs (RFC 3986, section 3.2.1)
-------------------------------------------
``userinfo = *( unreserved / pct-encoded / sub-delims / ":" )``. In the
password (everything after the first ``:`` of the userinfo) these may appear
literally:

* unreserved: ``A-Z a-z 0-9 - . _ ~``
* sub-delims: ``! $ & ' ( ) * + , ; =``
* a valid ``%XX`` escape.

Everything else must be percent-encoded. ``password_unencoded_chars`` reports
the offending characters. That covers the gen-delims ``: / ? # [ ] @``, a
``%`` that does not start a ``%XX`` escape, space, other ASCII punctuation
(``" < > \\ ^ ` { | }``) and any non-ASCII character. A ``:`` inside the
password is reported too: the grammar allows it, but PyMongo rejects it and
it reads as a second separator. What goes wrong when these are left
unencoded:

* ``/ ? #`` end the authority, so redis-py and PyMongo read a different host
  and an empty or truncated password;
* ``@``: redis-py splits on the last ``@`` and copes, but PyMongo refuses
  the URI ("must be escaped according to RFC 3986");
* a literal ``%41`` is decoded to ``A`` by both drivers: a password that
  really contains ``%41`` must be written ``%2541``.

For MongoDB URIs ``+`` is reported too: PyMongo decodes the userinfo with
``unquote_plus``, so a literal ``+`` becomes a space.

``!`` (as in the diagnosis's Redis password) is a sub-delim: RFC 3986 allows
it unencoded, and both drivers read it correctly. The builders still encode
every reserved character (``quote(password, safe="")``), which is always
correct.

Parsing is lenient where the drivers are strict. When an unencoded ``/``,
``?`` or ``#`` in the password cuts the authority short, the parser finds
the userinfo at the last ``@`` before a valid host, so the report can name
the intended host and say that the password needs encoding. An ``@`` inside
a query value (after ``?`` and ``=``) is never taken for the end of the
userinfo; a password that itself holds ``?`` and then ``=`` before an
unencoded ``@`` is therefore reported as unparseable.

Errors are ``ValueError`` whose text never contains the password: the
messages describe the problem and show the URL only masked.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode

from .copilotos_common import MASK

REDIS_SCHEMES = ("redis", "rediss")
MONGO_SCHEMES = ("mongodb", "mongodb+srv")
REDIS_DEFAULT_PORT = 6379
MONGO_DEFAULT_PORT = 27017

UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
SUB_DELIMS = frozenset("!$&'()*+,;=")
_HEX = frozenset("0123456789abcdefABCDEF")
_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._%-]+)(?::([0-9]*))?$")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


@dataclass(frozen=True)
class _Split:
    scheme: str
    userinfo: str | None  # raw, still percent-encoded
    hosts: str
    path: str
    query: str
    lenient: bool  # the userinfo was found past a '/', '?' or '#'


@dataclass(frozen=True)
class RedisUrl:
    """A parsed ``redis://`` or ``rediss://`` URL; ``password`` is decoded."""

    scheme: str
    host: str
    port: int
    db: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_raw: str | None = field(default=None, repr=False)
    query: dict[str, str] = field(default_factory=dict)
    lenient: bool = False

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    def password_unencoded_chars(self) -> list[str]:
        return password_unencoded_chars(self.password_raw)

    def render(self, mask: bool = True) -> str:
        """The URL rebuilt, properly encoded; the password masked by default."""
        return build_redis_url(
            self.host,
            self.port,
            self.db,
            password=self.password,
            username=self.username,
            tls=self.tls,
            query=self.query,
            mask=mask,
        )

    @property
    def masked(self) -> str:
        return self.render(mask=True)


@dataclass(frozen=True)
class MongoUri:
    """A parsed ``mongodb://`` or ``mongodb+srv://`` URI; ``password`` is decoded."""

    scheme: str
    hosts: tuple[tuple[str, int | None], ...]
    database: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_raw: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)
    lenient: bool = False

    @property
    def srv(self) -> bool:
        return self.scheme == "mongodb+srv"

    @property
    def host(self) -> str:
        return self.hosts[0][0]

    @property
    def port(self) -> int | None:
        return self.hosts[0][1]

    def option(self, name: str, default: str | None = None) -> str | None:
        """A URI option, matched case-insensitively like the drivers do."""
        wanted = name.lower()
        for key, value in self.options.items():
            if key.lower() == wanted:
                return value
        return default

    @property
    def auth_source(self) -> str:
        """authSource, else the database in the path, else ``admin``."""
        return self.option("authSource") or self.database or "admin"

    @property
    def tls(self) -> bool:
        value = self.option("tls") or self.option("ssl")
        if value is None:
            return self.srv
        return value.lower() in ("true", "1", "yes")

    def password_unencoded_chars(self) -> list[str]:
        return password_unencoded_chars(self.password_raw, plus_is_space=True)

    def render(self, mask: bool = True) -> str:
        return build_mongo_uri(
            list(self.hosts),
            username=self.username,
            password=self.password,
            database=self.database,
            options=self.options,
            srv=self.srv,
            mask=mask,
        )

    @property
    def masked(self) -> str:
        return self.render(mask=True)


# -- low-level ---------------------------------------------------------------
def password_unencoded_chars(raw: str | None, plus_is_space: bool = False) -> list[str]:
    """Characters of a raw (as written) URL password that must be percent-encoded.

    Returns them sorted and unique; ``%`` stands for a ``%`` that does not
    start a valid ``%XX`` escape. ``plus_is_space`` adds ``+`` (MongoDB).
    """
    if not raw:
        return []
    bad: set[str] = set()
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "%":
            if i + 2 < len(raw) and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
                i += 3
                continue
            bad.add("%")
        elif char == "+" and plus_is_space:
            bad.add("+")
        elif char not in UNRESERVED and char not in SUB_DELIMS:
            bad.add(char)
        i += 1
    return sorted(bad)


def _valid_hostlist(text: str, allow_many: bool) -> bool:
    if not text:
        return False
    parts = text.split(",") if allow_many else [text]
    return all(_HOST_RE.match(part) for part in parts)


def _split(url: str, schemes: tuple[str, ...], kind: str) -> _Split:
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the %s is empty" % kind)
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("the %s has no scheme (expected %s://...): %s" % (kind, schemes[0], mask_url(url)))
    scheme = scheme.lower()
    if scheme not in schemes:
        raise ValueError(
            "the %s scheme %r is not supported (expected %s): %s"
            % (kind, scheme[:20], " or ".join(s + "://" for s in schemes), mask_url(url))
        )
    allow_many = scheme == "mongodb"
    # Strict RFC 3986: the authority ends at the first '/', '?' or '#'.
    end = len(rest)
    for delim in "/?#":
        pos = rest.find(delim)
        if pos != -1:
            end = min(end, pos)
    authority, tail = rest[:end], rest[end:]
    userinfo: str | None = None
    lenient = False
    if "@" in authority:
        userinfo, _sep, hosts = authority.rpartition("@")
    else:
        hosts = authority
    # Lenient: an unencoded '/', '?' or '#' in the password cut the authority
    # short. Take the last '@' after it that precedes a valid host, unless that
    # '@' sits in a query value ("?appName=me@host" is not a password).
    query_at = tail.find("?")
    for pos in sorted((m.start() for m in re.finditer("@", tail)), reverse=True):
        if query_at != -1 and query_at < pos and "=" in tail[query_at:pos]:
            continue
        cand_end = len(tail)
        for delim in "/?#":
            found = tail.find(delim, pos + 1)
            if found != -1:
                cand_end = min(cand_end, found)
        candidate = tail[pos + 1 : cand_end]
        cand_userinfo = authority + tail[:pos]
        if ":" in cand_userinfo and _valid_hostlist(candidate, allow_many):
            userinfo = cand_userinfo
            hosts, tail = candidate, tail[cand_end:]
            lenient = True
            break
    tail = tail.partition("#")[0]
    path, _sep, query = tail.partition("?")
    if not hosts:
        raise ValueError("the %s has no host: %s" % (kind, mask_url(url)))
    if not _valid_hostlist(hosts, allow_many):
        raise ValueError("the %s has an invalid host or port: %s" % (kind, mask_url(url)))
    return _Split(scheme, userinfo, hosts, path, query, lenient)


def _host_port(entry: str, default_port: int | None, kind: str, masked: str) -> tuple[str, int | None]:
    match = _HOST_RE.match(entry)
    if not match:
        raise ValueError("the %s has an invalid host: %s" % (kind, masked))
    host, port_text = match.group(1), match.group(2)
    if host.startswith("["):
        host = host[1:-1]
    host = unquote(host)
    if port_text is None or port_text == "":
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("the %s has a port that is not a number from 1 to 65535: %s" % (kind, masked))
    return host, int(port_text)


def _userinfo(raw: str | None, plus_is_space: bool) -> tuple[str | None, str | None, str | None]:
    """(username, password, password_raw) decoded the way the driver does."""
    if raw is None:
        return None, None, None
    decode = unquote_plus if plus_is_space else unquote
    user_raw, colon, pw_raw = raw.partition(":")
    username = decode(user_raw) if user_raw else None
    if not colon:
        return username, None, None
    return username, decode(pw_raw), pw_raw


def _format_host(host: str) -> str:
    return "[%s]" % host if ":" in host and not host.startswith("[") else host


# -- Redis --------------------------------------------------------------------
def parse_redis_url(url: str) -> RedisUrl:
    """Parse ``redis[s]://[[user]:password@]host[:port][/db][?query]``."""
    kind = "Redis URL"
    parts = _split(url, REDIS_SCHEMES, kind)
    masked = mask_url(url)
    if "," in parts.hosts:
        raise ValueError("the %s names several hosts: %s" % (kind, masked))
    host, port = _host_port(parts.hosts, REDIS_DEFAULT_PORT, kind, masked)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    db_text = parts.path.strip("/") or query.get("db", "") or "0"
    if not db_text.isdigit():
        raise ValueError("the %s database (path) is not a number: %s" % (kind, masked))
    username, password, password_raw = _userinfo(parts.userinfo, plus_is_space=False)
    return RedisUrl(
        scheme=parts.scheme,
        host=host,
        port=int(port or REDIS_DEFAULT_PORT),
        db=int(db_text),
        username=username,
        password=password,
        password_raw=password_raw,
        query={k: v for k, v in query.items() if k != "db"},
        lenient=parts.lenient,
    )


def build_redis_url(
    host: str,
    port: int = REDIS_DEFAULT_PORT,
    db: int = 0,
    password: str | None = None,
    username: str | None = None,
    tls: bool = False,
    query: dict[str, str] | None = None,
    mask: bool = False,
) -> str:
    """A Redis URL with the userinfo percent-encoded (``quote(.., safe="")``)."""
    auth = ""
    if username or password is not None:
        user = quote(username, safe="") if username else ""
        secret = (MASK if mask else quote(password, safe="")) if password is not None else None
        auth = user + (":" + secret if secret is not None else "") + "@"
    url = "%s://%s%s:%d/%d" % ("rediss" if tls else "redis", auth, _format_host(host), int(port), int(db))
    if query:
        url += "?" + urlencode(query)
    return url


# -- MongoDB ------------------------------------------------------------------
def parse_mongo_uri(uri: str) -> MongoUri:
    """Parse ``mongodb[+srv]://[user[:password]@]host[:port][,...][/db][?options]``."""
    kind = "MongoDB URI"
    parts = _split(uri, MONGO_SCHEMES, kind)
    masked = mask_url(uri)
    srv = parts.scheme == "mongodb+srv"
    hosts: list[tuple[str, int | None]] = []
    for entry in parts.hosts.split(","):
        host, port = _host_port(entry, None if srv else MONGO_DEFAULT_PORT, kind, masked)
        if srv and port is not None:
            raise ValueError("a mongodb+srv URI must not give a port: %s" % masked)
        hosts.append((host, port))
    database = unquote(parts.path.lstrip("/")) or None
    if database and any(c in database for c in '/\\ ."$'):
        raise ValueError("the %s database name is invalid: %s" % (kind, masked))
    username, password, password_raw = _userinfo(parts.userinfo, plus_is_space=True)
    if parts.userinfo is not None and not username:
        raise ValueError("the %s has credentials without a username: %s" % (kind, masked))
    return MongoUri(
        scheme=parts.scheme,
        hosts=tuple(hosts),
        database=database,
        username=username,
        password=password,
        password_raw=password_raw,
        options=dict(parse_qsl(parts.query, keep_blank_values=True)),
        lenient=parts.lenient,
    )


def build_mongo_uri(
    hosts: str | list[tuple[str, int | None]],
    port: int | None = MONGO_DEFAULT_PORT,
    username: str | None = None,
    password: str | None = None,
    database: str | None = None,
    options: dict[str, str] | None = None,
    srv: bool = False,
    mask: bool = False,
) -> str:
    """A MongoDB URI with the userinfo percent-encoded (``+`` too)."""
    if isinstance(hosts, str):
        hosts = [(hosts, None if srv else port)]
    hostlist = ",".join(_format_host(h) + ("" if p is None else ":%d" % p) for h, p in hosts)
    auth = ""
    if username:
        auth = quote(username, safe="")
        if password is not None:
            auth += ":" + (MASK if mask else quote(password, safe=""))
        auth += "@"
    uri = "%s://%s%s/%s" % ("mongodb+srv" if srv else "mongodb", auth, hostlist, quote(database or "", safe=""))
    if options:
        uri += "?" + urlencode(options)
    return uri


# -- any URL ------------------------------------------------------------------
def mask_url(url: str | None) -> str:
    """The URL with the password of its userinfo replaced by MASK.

    Never raises and never returns the password, even for malformed input:
    everything between the scheme and the last ``@`` that precedes the host
    is treated as userinfo.
    """
    if url is None:
        return ""
    text = str(url).strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        if "@" in text:
            return MASK + "@" + text.rpartition("@")[2]
        return text
    if "@" not in rest:
        # No userinfo; but "redis://:secret" (host forgotten) reads as a
        # non-numeric port that may be a password: mask it too.
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        after = rest[len(authority) :]
        if not authority.startswith("[") and ":" in authority:
            host, _sep, port = authority.partition(":")
            if not port.isdigit():
                return "%s://%s:%s%s" % (scheme, host, MASK, after)
        return text
    # The userinfo ends at the last '@' (passwords may hold unencoded '@', '/',
    # '?', '#'). Without a ':' there is no password to hide. A query with '@'
    # may make this mask more than needed, never less.
    userinfo, _sep, hostpart = rest.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not colon:
        return text
    return "%s://%s:%s@%s" % (scheme, user, MASK, hostpart)


def is_loopback_host(host: str | None) -> bool:
    """True for localhost names and loopback/unspecified addresses."""
    if not host:
        return False
    name = host.strip("[]").lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def is_ip_address(host: str | None) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
