"""copilotos_urls: parsing, encoding checks, building and masking of URLs."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from ansible.module_utils.copilotos_common import MASK
from ansible.module_utils.copilotos_urls import (
    build_mongo_uri,
    build_redis_url,
    is_loopback_host,
    mask_url,
    parse_mongo_uri,
    parse_redis_url,
    password_unencoded_chars,
)
from hypothesis import given
from hypothesis import strategies as st

DIAG_PW = "ExampleRedisPw2024!Change"  # same shape as the diagnosis, not its value


# -- Redis parsing -------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "host", "port", "db", "user", "password", "tls"),
    [
        ("redis://:redis_password_change_me@redis:6379/0", "redis", 6379, 0, None, "redis_password_change_me", False),
        ("redis://redis", "redis", 6379, 0, None, None, False),
        ("redis://localhost:6379/0", "localhost", 6379, 0, None, None, False),
        ("redis://default:pw@10.0.0.5:6380/3", "10.0.0.5", 6380, 3, "default", "pw", False),
        ("rediss://:pw@cache.example.com:6390", "cache.example.com", 6390, 0, None, "pw", True),
        ("REDIS://:pw@redis/2", "redis", 6379, 2, None, "pw", False),
        ("redis://:p%40ss%3Aw%2Frd%23%3F@redis:6379/0", "redis", 6379, 0, None, "p@ss:w/rd#?", False),
        ("redis://:%2541@redis", "redis", 6379, 0, None, "%41", False),
        ("redis://:a+b@redis", "redis", 6379, 0, None, "a+b", False),  # redis-py: unquote, not unquote_plus
        ("redis://[::1]:6379/1", "::1", 6379, 1, None, None, False),
        ("redis://:pw@redis:6379?db=4", "redis", 6379, 4, None, "pw", False),
        ("redis://:%s@redis:6379/0" % DIAG_PW, "redis", 6379, 0, None, DIAG_PW, False),
        # lenient: unencoded delimiters in the password
        ("redis://:p@ss@redis:6379/0", "redis", 6379, 0, None, "p@ss", False),
        ("redis://:pa/ss@redis:6379/0", "redis", 6379, 0, None, "pa/ss", False),
        ("redis://:pa?ss@redis:6379/0", "redis", 6379, 0, None, "pa?ss", False),
        ("redis://:pa#ss@redis:6379/0", "redis", 6379, 0, None, "pa#ss", False),
        ("redis://:pa:ss@redis", "redis", 6379, 0, None, "pa:ss", False),
    ],
)
def test_parse_redis_url(url, host, port, db, user, password, tls):
    parsed = parse_redis_url(url)
    assert (parsed.host, parsed.port, parsed.db, parsed.username, parsed.password, parsed.tls) == (
        host,
        port,
        db,
        user,
        password,
        tls,
    )


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("", "empty"),
        ("redis:6379", "no scheme"),
        ("http://:hunter2secret@redis", "not supported"),
        ("unix:///tmp/redis.sock", "not supported"),
        ("redis://:hunter2secret@redis:notaport/0", "invalid host or port"),
        ("redis://:hunter2secret@redis:70000/0", "1 to 65535"),
        ("redis://:hunter2secret@redis:6379/zero", "not a number"),
        ("redis://:hunter2secret@", "no host"),
        ("redis://:hunter2secret@a,b", "invalid host"),
    ],
)
def test_parse_redis_url_errors_never_contain_the_password(url, needle):
    with pytest.raises(ValueError) as info:
        parse_redis_url(url)
    text = str(info.value)
    assert needle in text
    assert "hunter2secret" not in text


def test_unparseable_url_without_at_does_not_echo_a_password_like_port():
    with pytest.raises(ValueError) as info:
        parse_redis_url("redis://:hunter2secret")
    assert "hunter2secret" not in str(info.value)


# -- encoding checks -----------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "plus", "bad"),
    [
        ("plainPassword123", False, []),
        (DIAG_PW, False, []),  # '!' is a sub-delim: allowed by RFC 3986
        ("a-b.c_d~e", False, []),
        ("!$&'()*+,;=", False, []),
        ("a+b", True, ["+"]),  # MongoDB decodes '+' as a space
        ("p@ss", False, ["@"]),
        ("pa:ss", False, [":"]),
        ("a/b?c#d", False, ["#", "/", "?"]),
        ("[x]", False, ["[", "]"]),
        ("100%", False, ["%"]),
        ("%zz", False, ["%"]),
        ("%41%2f", False, []),
        ("with space", False, [" "]),
        ('q"<>\\^`{|}', False, sorted('"<>\\^`{|}')),
        ("contraseña", False, ["ñ"]),
        ("", False, []),
        (None, False, []),
    ],
)
def test_password_unencoded_chars(raw, plus, bad):
    assert password_unencoded_chars(raw, plus_is_space=plus) == bad


def test_parsed_url_reports_unencoded_chars_from_the_raw_text():
    assert parse_redis_url("redis://:p@ss@redis").password_unencoded_chars() == ["@"]
    assert parse_redis_url("redis://:p%40ss@redis").password_unencoded_chars() == []
    assert parse_mongo_uri("mongodb://u:a+b@mongodb").password_unencoded_chars() == ["+"]


@given(st.text(min_size=1, max_size=40))
def test_built_urls_round_trip_any_password(password):
    url = build_redis_url("redis", 6379, 0, password=password)
    parsed = parse_redis_url(url)
    assert parsed.password == password
    assert parsed.password_unencoded_chars() == []
    uri = build_mongo_uri("mongodb", 27017, username="u$er", password=password, database="copilotos")
    mparsed = parse_mongo_uri(uri)
    assert mparsed.password == password
    assert mparsed.username == "u$er"
    assert mparsed.password_unencoded_chars() == []


@given(st.text(min_size=3, max_size=40))
def test_built_redis_url_is_read_back_by_redis_py(password):
    from redis.connection import parse_url

    assert parse_url(build_redis_url("redis", 6379, 0, password=password))["password"] == password


@given(st.text(min_size=3, max_size=40))
def test_built_mongo_uri_is_read_back_by_pymongo(password):
    from pymongo.uri_parser import parse_uri

    uri = build_mongo_uri("mongodb", 27017, username="admin", password=password, options={"authSource": "admin"})
    assert parse_uri(uri)["password"] == password


# -- building ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"host": "redis", "password": DIAG_PW}, "redis://:ExampleRedisPw2024%21Change@redis:6379/0"),
        ({"host": "redis", "password": "p@ss:w/rd"}, "redis://:p%40ss%3Aw%2Frd@redis:6379/0"),
        ({"host": "redis"}, "redis://redis:6379/0"),
        ({"host": "redis", "username": "app", "password": "x y", "db": 2}, "redis://app:x%20y@redis:6379/2"),
        ({"host": "::1", "tls": True}, "rediss://[::1]:6379/0"),
        ({"host": "redis", "password": "secret", "mask": True}, "redis://:%s@redis:6379/0" % MASK),
    ],
)
def test_build_redis_url(kwargs, expected):
    assert build_redis_url(**kwargs) == expected


def test_build_mongo_uri():
    uri = build_mongo_uri(
        "mongodb", 27017, username="copilotos", password="a+b@c", database="copilotos", options={"authSource": "admin"}
    )
    assert uri == "mongodb://copilotos:a%2Bb%40c@mongodb:27017/copilotos?authSource=admin"
    assert build_mongo_uri("cluster.example.com", srv=True) == "mongodb+srv://cluster.example.com/"
    masked = build_mongo_uri("mongodb", username="u", password="secret", mask=True)
    assert masked == "mongodb://u:%s@mongodb:27017/" % MASK


# -- MongoDB parsing -------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "hosts", "db", "user", "password", "auth_source", "tls"),
    [
        (
            "mongodb://copilotos:pw@mongodb:27017/copilotos?authSource=admin",
            (("mongodb", 27017),),
            "copilotos",
            "copilotos",
            "pw",
            "admin",
            False,
        ),
        ("mongodb://mongodb", (("mongodb", 27017),), None, None, None, "admin", False),
        ("mongodb://u:pw@a:1,b:2,[::1]:3/db", (("a", 1), ("b", 2), ("::1", 3)), "db", "u", "pw", "db", False),
        ("mongodb://u:a%2Bb%20c@h/?tls=true", (("h", 27017),), None, "u", "a+b c", "admin", True),
        ("mongodb://u:a+b@h/", (("h", 27017),), None, "u", "a b", "admin", False),  # like pymongo
        ("mongodb+srv://u:pw@cluster.example.com/app", (("cluster.example.com", None),), "app", "u", "pw", "app", True),
        ("mongodb://u:pw@h/db?AUTHSOURCE=other&ssl=false", (("h", 27017),), "db", "u", "pw", "other", False),
        ("mongodb://u:p/w@mongodb:27017/copilotos", (("mongodb", 27017),), "copilotos", "u", "p/w", "copilotos", False),
        ("mongodb://u@h", (("h", 27017),), None, "u", None, "admin", False),
    ],
)
def test_parse_mongo_uri(uri, hosts, db, user, password, auth_source, tls):
    parsed = parse_mongo_uri(uri)
    assert parsed.hosts == hosts
    assert parsed.database == db
    assert parsed.username == user
    assert parsed.password == password
    assert parsed.auth_source == auth_source
    assert parsed.tls is tls


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("mongodb://:hunter2secret@h", "without a username"),
        ("mongodb+srv://u:hunter2secret@h:27017/", "must not give a port"),
        ("mongodb://u:hunter2secret@h:99999/", "1 to 65535"),
        ("postgres://u:hunter2secret@h/", "not supported"),
        ("mongodb://u:hunter2secret@h/bad db", "database name"),
    ],
)
def test_parse_mongo_uri_errors_never_contain_the_password(uri, needle):
    with pytest.raises(ValueError) as info:
        parse_mongo_uri(uri)
    assert needle in str(info.value)
    assert "hunter2secret" not in str(info.value)


def test_mongo_query_with_at_sign_is_not_mistaken_for_credentials():
    parsed = parse_mongo_uri("mongodb://h:27017/db?appName=me@example")
    assert parsed.hosts == (("h", 27017),)
    assert parsed.password is None
    assert parsed.options == {"appName": "me@example"}


# -- masking ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:hunter2secret@redis:6379/0", "redis://:%s@redis:6379/0" % MASK),
        ("redis://default:hunter2secret@redis", "redis://default:%s@redis" % MASK),
        ("redis://:hunter2@secret@redis:6379/0", "redis://:%s@redis:6379/0" % MASK),
        ("redis://:hunter2/secret@redis:6379/0", "redis://:%s@redis:6379/0" % MASK),
        ("redis://:hunter2?secret#x@redis", "redis://:%s@redis" % MASK),
        ("mongodb://u:hunter2secret@a:1,b:2/db?authSource=admin", "mongodb://u:%s@a:1,b:2/db?authSource=admin" % MASK),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("mongodb://user@h/db", "mongodb://user@h/db"),
        ("hunter2secret@redis", "%s@redis" % MASK),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_url(url, expected):
    assert mask_url(url) == expected


@given(st.text(min_size=1, max_size=30).filter(lambda s: s == s.strip()))
def test_mask_url_hides_any_password_plain_or_encoded(password):
    for raw in (password, quote(password, safe="")):
        assert mask_url("redis://:%s@redis:6379/0" % raw) == "redis://:%s@redis:6379/0" % MASK
        assert mask_url("mongodb://app:%s@mongodb:27017/db?authSource=admin" % raw) == (
            "mongodb://app:%s@mongodb:27017/db?authSource=admin" % MASK
        )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:hunter2secret", "redis://:%s" % MASK),
        ("redis://redis:hunter2secret/0", "redis://redis:%s/0" % MASK),
        ("redis://[::1]:6379", "redis://[::1]:6379"),
    ],
)
def test_mask_url_without_userinfo_masks_a_non_numeric_port(url, expected):
    assert mask_url(url) == expected


def test_parsed_masked_rendering():
    parsed = parse_redis_url("redis://:p%40ss@redis:6379/0")
    assert parsed.masked == "redis://:%s@redis:6379/0" % MASK
    assert parsed.render(mask=False) == "redis://:p%40ss@redis:6379/0"
    assert "p@ss" not in repr(parsed)  # the dataclass repr hides passwords
    mongo = parse_mongo_uri("mongodb://u:p%40ss@mongodb:27017/copilotos?authSource=admin")
    assert mongo.masked == "mongodb://u:%s@mongodb:27017/copilotos?authSource=admin" % MASK
    assert "p@ss" not in repr(mongo)


# -- hosts ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", True),
        ("redis", False),
        ("172.18.0.3", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_host(host, expected):
    assert is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("url", "host", "password"),
    [
        ("redis://:a@b/c@redis:6379/0", "redis", "a@b/c"),
        ("redis://user:1234/w@redis", "redis", "1234/w"),
        ("redis://:a/b=c@redis", "redis", "a/b=c"),
    ],
)
def test_lenient_parse_of_unencoded_at_and_slash(url, host, password):
    parsed = parse_redis_url(url)
    assert (parsed.host, parsed.password, parsed.lenient) == (host, password, True)


def test_lenient_mongo_with_at_and_slash_in_password():
    parsed = parse_mongo_uri("mongodb://u:Un+it@pw/1@127.0.0.1:27017/copilotos?authSource=admin")
    assert parsed.hosts == (("127.0.0.1", 27017),)
    assert parsed.password == "Un it@pw/1"  # '+' decoded as a space, like PyMongo
    assert parsed.database == "copilotos"
    assert parsed.password_unencoded_chars() == ["+", "/", "@"]
