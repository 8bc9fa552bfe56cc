"""Unit tests for the env-file parser, renderer, updater and masking.

Expected decoded values come from experiments with Docker Compose v2.40.3
(``docker compose config`` and a container's ``Config.Env``).
"""

from __future__ import annotations

import os
import stat

import pytest
from ansible.module_utils.copilotos_common import MASK, atomic_write
from ansible.module_utils.copilotos_env import (
    KEY_RE,
    EnvFile,
    EnvParseError,
    EnvValueError,
    Value,
    backup_name,
    detect_newline,
    make_backup,
    mask_env,
    parse_env,
    parse_line,
    render_value,
    serialize,
    split_lines,
    update_env,
    url_passwords,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# --- parser ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("KEY=value", "KEY", "value"),
        ("KEY=", "KEY", ""),
        ("export KEY=exp", "KEY", "exp"),
        ("\texport   KEY=exp", "KEY", "exp"),
        ("  LEAD=x", "LEAD", "x"),
        ("KEY = spaced", "KEY", "spaced"),
        ("KEY=a b c   ", "KEY", "a b c"),
        ("KEY=a #comment", "KEY", "a"),
        ("KEY=a #c # d", "KEY", "a"),
        ("KEY=a#b", "KEY", "a#b"),
        ("KEY=a\t#tab", "KEY", "a\t#tab"),
        ("KEY=#start", "KEY", "#start"),
        ("KEY= #c", "KEY", "#c"),
        ("KEY=a=b=c", "KEY", "a=b=c"),
        ("KEY=$$dollar", "KEY", "$dollar"),
        ("KEY=a$", "KEY", "a$"),
        ("KEY=a$-b", "KEY", "a$-b"),
        ("KEY=$1x", "KEY", "$1x"),
        ("KEY=a\\b\\\\c\\", "KEY", "a\\b\\\\c\\"),
        ('KEY=it\'s "q"', "KEY", 'it\'s "q"'),
        ('KEY=["http://localhost:3000"]', "KEY", '["http://localhost:3000"]'),
        ("KEY='lit $X \\n \\\\ \\' x'", "KEY", "lit $X \\n \\\\ ' x"),
        ("KEY='a\\\\'", "KEY", "a\\\\"),
        ("KEY='a\\b'", "KEY", "a\\b"),
        ("KEY='$$'", "KEY", "$$"),
        ("KEY='x' # c", "KEY", "x"),
        ("KEY=''", "KEY", ""),
        ("KEY='a\tb'", "KEY", "a\tb"),
        ('KEY="a\\nb"', "KEY", "a\nb"),
        ('KEY="a\\\\b"', "KEY", "a\\b"),
        ('KEY="a\\\\nb"', "KEY", "a\\nb"),
        ('KEY="a\\$b"', "KEY", "a$b"),
        ('KEY="a$$b"', "KEY", "a$b"),
        ('KEY="a\\\\$$b"', "KEY", "a\\$b"),
        ('KEY="a\\"b"', "KEY", 'a"b'),
        ('KEY="a\'b"', "KEY", "a'b"),
        ('KEY="a\\tb\\qz\\!"', "KEY", "a\tb\\qz\\!"),
        ('KEY="a$"', "KEY", "a$"),
        ('KEY="x" #c', "KEY", "x"),
        ('KEY=""', "KEY", ""),
        ('KEY="\\\\"', "KEY", "\\"),
        ("KEY=ñé", "KEY", "ñé"),
        ("DOT.K-1=v", "DOT.K-1", "v"),
        ("_k=v", "_k", "v"),
    ],
)
def test_parse_line_decodes_like_compose(line: str, key: str, value: str) -> None:
    parsed = parse_line(line, "\n", 1)
    assert parsed.key == key
    assert parsed.value == Value(value, True)
    assert parsed.head + parsed.raw_value + parsed.suffix == line


@pytest.mark.parametrize(
    "line",
    [
        "KEY=$HOME",
        "KEY=${X}",
        "KEY=a${X:-def}",
        'KEY="$X"',
        'KEY="pre${X}"',
        'KEY="\\$$X"',
        "KEY=$\u212a",  # Kelvin sign: Go's case folding makes it a name letter
        "KEY=${\u017f}",  # long s, likewise
        "KEY=$lower",
        "KEY=${A:-${B}}",
        'KEY="\\0777"',  # an octal escape above 0x7f: one raw byte in Compose
    ],
)
def test_interpolated_values_are_not_literal(line: str) -> None:
    value = parse_line(line, "\n", 1).value
    assert value is not None and value.literal is False


@pytest.mark.parametrize("line", ["", "   ", "\t", "# comment", "   # indented comment", "#KEY=value"])
def test_blank_and_comment_lines(line: str) -> None:
    parsed = parse_line(line, "\n", 4)
    assert parsed.key is None and parsed.text == line


@pytest.mark.parametrize(
    ("text", "lineno", "reason"),
    [
        ("A=1\nB=2\nFOO BAR=x\n", 3, "invalid variable name"),
        ("FOO BAR\n", 1, "cannot contain a space"),
        ("A=1\nB+C=2\n", 2, "invalid variable name"),
        ("A$B=1\n", 1, "invalid variable name"),
        ("A\u2003B=1\n", 1, "invalid variable name"),
        ("INHERITED # comment\n", 1, "invalid variable name"),
        ("\x1c\nA=1\n", 1, "invalid variable name"),
        ("# c\n\nK='unterminated\n", 3, "unterminated quoted value"),
        ('K="unterminated\n', 1, "unterminated quoted value"),
        ('A=1\nK="multi\nline\nB=2\n', 2, "unterminated quoted value"),
        ("A=${}\n", 1, "invalid interpolation"),
        ("A=1\nB=${1}\n", 2, "invalid interpolation"),
        ("A=${X\n", 1, "invalid interpolation"),
        ("A=${X/a/b}\n", 1, "invalid interpolation"),
        ('A="${"\n', 1, "invalid interpolation"),
        ("K='x' junk\n", 1, "unexpected text after the closing quote"),
        ('A=1\r\nK="x"junk', 2, "unexpected text after the closing quote"),
    ],
)
def test_parse_errors_name_the_line(text: str, lineno: int, reason: str) -> None:
    with pytest.raises(EnvParseError) as exc:
        parse_env(text)
    assert exc.value.lineno == lineno
    assert str(exc.value).startswith("line %d: " % lineno)
    assert reason in str(exc.value)


@pytest.mark.parametrize(
    "line", ["PASSWORD hunter2-secret\n", "BAD KEY='hunter2-secret'", "K='hunter2-secret", "K=${hunter2-secret"]
)
def test_parse_errors_never_quote_the_line(line: str) -> None:
    with pytest.raises(EnvParseError) as exc:
        parse_env(line)
    assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("A=1", [("A=1", "")]),
        ("A=1\n", [("A=1", "\n")]),
        ("A=1\r\nB=2\r\n", [("A=1", "\r\n"), ("B=2", "\r\n")]),
        ("A=1\r\nB=2", [("A=1", "\r\n"), ("B=2", "")]),
        ("A=1\nB=2\r\n\n", [("A=1", "\n"), ("B=2", "\r\n"), ("", "\n")]),
        ("\n\n", [("", "\n"), ("", "\n")]),
    ],
)
def test_split_lines(text: str, expected: list[tuple[str, str]]) -> None:
    assert split_lines(text) == expected
    assert serialize(parse_env(text)) == text


@pytest.mark.parametrize(
    ("text", "newline"), [("", "\n"), ("A=1", "\n"), ("A=1\nB=2\r\n", "\n"), ("A=1\r\nB=2\n", "\r\n"), ("\r\n", "\r\n")]
)
def test_detect_newline(text: str, newline: str) -> None:
    assert detect_newline(text) == newline


def test_effective_and_duplicates() -> None:
    env = parse_env("A=1\nB=2\nA=3\n# A=4\nB=2\nC=5\n")
    assert env.effective() == {"A": Value("3"), "B": Value("2"), "C": Value("5")}
    assert env.duplicates() == ["A", "B"]
    assert env.last_index("A") == 2 and env.last_index("Z") is None


# --- Compose syntax beyond KEY=VALUE (values checked with docker compose config) ---

FAKE_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDfakefakefake\n"
    "bm90LWEtcmVhbC1rZXktanVzdC10ZXN0LWRhdGEtZm9yLXRoZS1wYXJzZXI=\n"
    "-----END PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=\u00a0x\nB=\u0085y\nC=\x0bz\nD=\x0cw\n", {"A": "x", "B": "y", "C": "z", "D": "w"}),
        ("A=\u2003x\nB=\u3000y\n", {"A": "\u2003x", "B": "\u3000y"}),  # not skipped after "="
        ("A=x\u00a0\nB=y\u2003\nC=z\u3000\n", {"A": "x", "B": "y", "C": "z"}),  # trailing blanks dropped
        ("A=x\x1c\nB=y\x1d\nC=z\x1e\nD=w\x1f\n", {"A": "x\x1c", "B": "y\x1d", "C": "z\x1e", "D": "w\x1f"}),
        ("A=\x1cx\n", {"A": "\x1cx"}),
        ("A=\u00a0'x y'\n", {"A": "x y"}),
        ("A=\u2003'x y'\n", {"A": "\u2003'x y'"}),
        ("\u3000\n\u2003# c\n\u00a0A=1\n", {"A": "1"}),
        ("export =1\n", {"": "1"}),
        ("export\tA=1\nexport \u00a0B=2\n", {"A": "1", "B": "2"}),
        ("exportA=1\nexport\u00a0B=2\nexport=3\n", {"exportA": "1", "export\u00a0B": "2", "export": "3"}),
        ("A: 1\nB :x\nC:=y\nD=:z\n", {"A": "1", "B": "x", "C": "=y", "D": ":z"}),
        ("456 = ABC\n-A=1\na[1]=c\nA.B-C=d\n", {"456": "ABC", "-A": "1", "a[1]": "c", "A.B-C": "d"}),
        ("\u00e1rv-T\u00dc=\u00e9\nA\tB=1\nC\u00a0=2\n", {"\u00e1rv-T\u00dc": "\u00e9", "A\tB": "1", "C": "2"}),
        ('="value"\n', {"": "value"}),
        (
            'A="\\0123"\nB="\\0"\nC="\\01"\nD="\\x41"\nE="\\u00e9"\n',
            {"A": "S", "B": "\\", "C": "\\1", "D": "\\x41", "E": "\\u00e9"},
        ),
        ("A=$1\nB=a$\nC=$\u00e9\nD='$\u212a'\n", {"A": "$1", "B": "a$", "C": "$\u00e9", "D": "$\u212a"}),
        ("A=1\nNAME", {"A": "1", "": "NAME"}),  # a bare name without a line break: the empty name's value
        ("A=1\r\nK=\"" + FAKE_PEM.replace("\n", "\r\n") + "\"\r\n", {"A": "1", "K": FAKE_PEM.replace("\n", "\r\n")}),
        ("K='" + FAKE_PEM + "' # the key\nB=2", {"K": FAKE_PEM, "B": "2"}),
        ('K="a\\n\nb \\"c\\" $$"\n', {"K": 'a\n\nb "c" $'}),
    ],
)
def test_compose_syntax_reads_like_compose(text: str, expected: dict[str, str]) -> None:
    env = parse_env(text)
    assert env.effective() == {k: Value(v, True) for k, v in expected.items()}
    assert serialize(env) == text


def test_bare_key_inherits_and_is_not_literal() -> None:
    text = "A=1\n  INHERITED\t\nB=2\r\nOTHER\r\n"
    env = parse_env(text)
    assert env.effective()["INHERITED"] == Value("", False)
    assert [line.form for line in env.lines] == ["assign", "inherit", "assign", "inherit"]
    assert not update_env(env, {"A": "1"}).changed
    result = update_env(env, {"INHERITED": "set here", "OTHER": "x"})
    assert result.updated == ["INHERITED", "OTHER"]
    assert serialize(result.env) == "A=1\n  INHERITED='set here'\nB=2\r\nOTHER=x\r\n"
    assert serialize(update_env(env, {}, absent=["INHERITED"]).env) == "A=1\nB=2\r\nOTHER\r\n"
    assert mask_env(env, ["INHERITED"]) == text


def test_bare_name_at_the_end_keeps_its_meaning_when_a_key_is_added() -> None:
    env = parse_env("A=1\nNAME")
    result = update_env(env, {"B": "2"})
    assert serialize(result.env) == "A=1\nB=2\nNAME"
    assert parse_env(serialize(result.env)).effective() == {"A": Value("1"), "B": Value("2"), "": Value("NAME")}


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_bom_is_kept_byte_for_byte(newline: str) -> None:
    text = "\ufeffA=1%(n)s# c%(n)sB=2%(n)s" % {"n": newline}
    env = parse_env(text)
    assert env.bom == "\ufeff" and env.effective() == {"A": Value("1"), "B": Value("2")}
    assert serialize(env) == text
    assert serialize(update_env(env, {"A": "9"}).env) == text.replace("A=1", "A=9")
    assert serialize(update_env(env, {"C": "3"}).env) == text + "C=3" + newline
    assert mask_env(env, ["A"]).startswith("\ufeffA=" + MASK)
    assert serialize(parse_env("\ufeff")) == "\ufeff"
    assert serialize(update_env(parse_env("\ufeff"), {"A": "1"}).env) == "\ufeffA=1\n"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_multi_line_pem_is_kept_byte_for_byte_while_another_key_changes(newline: str, quote: str) -> None:
    pem = FAKE_PEM.replace("\n", newline)
    text = "\ufeff# keys%(n)sJWT_PRIVATE_KEY=%(q)s%(pem)s%(q)s # fake%(n)sREDIS_PASSWORD=old%(n)sTAIL=1" % {
        "n": newline, "q": quote, "pem": pem
    }
    env = parse_env(text)
    assert env.effective()["JWT_PRIVATE_KEY"] == Value(pem)
    result = update_env(env, {"REDIS_PASSWORD": "new-fake-pass", "ADDED": "x"})
    assert result.updated == ["REDIS_PASSWORD"] and result.added == ["ADDED"]
    out = serialize(result.env)
    assert out == text.replace("REDIS_PASSWORD=old", "REDIS_PASSWORD=new-fake-pass") + newline + "ADDED=x" + newline
    again = parse_env(out)
    assert again.effective()["JWT_PRIVATE_KEY"] == Value(pem)
    assert again.effective()["REDIS_PASSWORD"] == Value("new-fake-pass")
    # the diff view masks the multi-line secret as one value
    masked = mask_env(env, ["JWT_PRIVATE_KEY"])
    assert "fakefake" not in masked and "JWT_PRIVATE_KEY=" + MASK + " # fake" in masked


def test_multi_line_value_lines_are_counted() -> None:
    from ansible.module_utils.copilotos_state import line_numbers

    env = parse_env("A=1\nK=\"" + FAKE_PEM + "\"\nB=2\n")
    assert line_numbers(env) == {"A": 1, "K": 2, "B": 6}


def test_managed_multi_line_value_is_replaced_whole() -> None:
    env = parse_env("K='" + FAKE_PEM + "'\nB=2\n")
    assert serialize(update_env(env, {"K": "short"}).env) == "K=short\nB=2\n"


# --- renderer ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("", ""),
        ("120", "120"),
        ("redis://:pw@redis:6379/0", "redis://:pw@redis:6379/0"),
        (
            "mongodb://u:p%40ss@mongodb:27017/copilotos?authSource=admin",
            "'mongodb://u:p%40ss@mongodb:27017/copilotos?authSource=admin'",
        ),
        ("NotTheProdPass2026!Rotate", "NotTheProdPass2026!Rotate"),
        ("a,b+c=d~e^f-g", "a,b+c=d~e^f-g"),
        ("a b", "'a b'"),
        ("$HOME", "'$HOME'"),
        ("${X}", "'${X}'"),
        ("a#b", "'a#b'"),
        (" lead", "' lead'"),
        ("trail ", "'trail '"),
        ("a\\b", "'a\\b'"),
        ("a\\\\", "'a\\\\'"),
        ("a\\", '"a\\\\"'),
        ("a\\\\\\", '"a\\\\\\\\\\\\"'),
        ("it's", '"it\'s"'),
        ('say "hi"', "'say \"hi\"'"),
        ('["http://localhost:3000"]', "'[\"http://localhost:3000\"]'"),
        ("a$b'c\"d#e f\\g!h@i:j/k%l", '"a$$b\'c\\"d#e f\\\\g!h@i:j/k%l"'),
        ("'$'", "\"'$$'\""),
        ("tab\there", "'tab\there'"),
        ("ñé€", "'ñé€'"),
    ],
)
def test_render_value(value: str, rendered: str) -> None:
    assert render_value(value) == rendered
    parsed = parse_line("K=" + rendered, "\n", 1).value
    assert parsed == Value(value, True)


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "nul\x00", "bell\x07", "del\x7f", "sep\u2028"])
def test_render_value_refuses_control_characters(value: str) -> None:
    with pytest.raises(EnvValueError) as exc:
        render_value(value)
    assert value not in str(exc.value)


# --- update ------------------------------------------------------------------


def test_update_equivalent_value_keeps_bytes() -> None:
    text = "# header\nexport A=\"same\"  # note\nB='x y'\nC=$$d\n"
    result = update_env(parse_env(text), {"A": "same", "B": "x y", "C": "$d"})
    assert not result.changed and result.changed_keys == []
    assert serialize(result.env) == text


def test_update_keeps_prefix_comment_and_order() -> None:
    text = "# header\r\nexport A=old  # note\r\n\r\nB=keep\r\nC=old"
    result = update_env(parse_env(text), {"A": "new value", "C": "c$", "D": "added"})
    assert serialize(result.env) == "# header\r\nexport A='new value'  # note\r\n\r\nB=keep\r\nC='c$'\r\nD=added\r\n"
    assert result.added == ["D"] and result.updated == ["A", "C"] and result.removed == []
    assert result.changed_keys == ["A", "C", "D"]


def test_update_duplicates_manage_last_and_absent_removes_all() -> None:
    text = "A=1\nB=x\nA=2\nB=y\nC=3\n"
    result = update_env(parse_env(text), {"A": "9"}, absent=["B", "MISSING"])
    assert serialize(result.env) == "A=1\nA=9\nC=3\n"
    assert result.duplicates == ["A", "B"]
    assert result.updated == ["A"] and result.removed == ["B"]


def test_update_rewrites_interpolated_value() -> None:
    result = update_env(parse_env("HOME_DIR=$HOME\n"), {"HOME_DIR": "$HOME"})
    assert serialize(result.env) == "HOME_DIR='$HOME'\n"
    assert result.updated == ["HOME_DIR"]


def test_update_empty_value_before_comment_is_quoted() -> None:
    result = update_env(parse_env("K=x # keep me\n"), {"K": ""})
    assert serialize(result.env) == "K='' # keep me\n"
    assert parse_env(serialize(result.env)).effective()["K"] == Value("")


def test_update_new_file_and_empty_values() -> None:
    result = update_env(EnvFile(), {"B": "2", "A": "1"})
    assert serialize(result.env) == "B=2\nA=1\n"
    assert result.added == ["A", "B"]


@pytest.mark.parametrize(
    ("values", "absent", "message"),
    [
        ({"1BAD": "x"}, [], "invalid variable name"),
        ({"A": "x"}, ["BAD KEY"], "invalid variable name"),
        ({"A": "x"}, ["A"], "both in values and absent: A"),
        ({"A": "line1\nsecret-line2"}, [], "value of A contains a line break"),
    ],
)
def test_update_refuses_bad_input(values: dict[str, str], absent: list[str], message: str) -> None:
    with pytest.raises(EnvValueError) as exc:
        update_env(parse_env("A=1\n"), values, absent)
    assert message in str(exc.value)
    assert "secret-line2" not in str(exc.value)


# --- masking -----------------------------------------------------------------


def test_mask_env_masks_secret_keys_urls_and_encoded_forms() -> None:
    text = (
        "REDIS_PASSWORD='S3cure!p@ss'\n"
        "REDIS_URL=redis://:S3cure%21p%40ss@redis:6379/0\n"
        "MONGODB_URL='mongodb://user:an0ther%20pw@mongodb:27017/db'\n"
        "OTHER=also-S3cure!p@ss-inside\n"
        "PLAIN=visible\n"
    )
    masked = mask_env(parse_env(text), ["REDIS_PASSWORD"], ["S3cure!p@ss"])
    assert "S3cure" not in masked and "an0ther" not in masked
    assert "REDIS_PASSWORD=%s\n" % MASK in masked
    assert "REDIS_URL=redis://:%s@redis:6379/0" % MASK in masked
    assert "PLAIN=visible" in masked


def test_mask_env_secret_url_keys_keep_their_host_visible() -> None:
    text = (
        "CELERY_BROKER_URL=redis://:pl4ce%40holder@localhost:6379/1\n"
        "TOKEN_URL=https://user:pw1@example.test/x?token=abc\n"
        "BARE=redis://redis:6379/0\n"
    )
    masked = mask_env(parse_env(text), ["CELERY_BROKER_URL", "TOKEN_URL", "BARE"])
    # The host a client dials is the evidence a reviewer needs; the password is not.
    assert "CELERY_BROKER_URL=redis://:%s@localhost:6379/1\n" % MASK in masked
    # A query string may carry a token, a URL without a password may be a secret itself: masked whole.
    assert "TOKEN_URL=%s\n" % MASK in masked
    assert "BARE=%s\n" % MASK in masked
    assert "pl4ce" not in masked and "pw1" not in masked and "abc" not in masked


def test_mask_env_masks_short_secret_by_line() -> None:
    masked = mask_env(parse_env("PIN=12\nOTHER=12\n"), ["PIN"])
    assert masked == "PIN=%s\nOTHER=12\n" % MASK


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("redis://:pw@redis:6379/0", ["pw", "pw"]),
        ("mongodb://u:p%40ss@h/db", ["p%40ss", "p@ss"]),
        ("redis://redis:6379/0", []),
        ("not a url", []),
        ("http://[bad@", []),
    ],
)
def test_url_passwords(value: str, found: list[str]) -> None:
    assert url_passwords([value]) == found


# --- file helpers ------------------------------------------------------------


def test_atomic_write_sets_mode_and_leaves_no_temp(tmp_path) -> None:
    target = tmp_path / "app.env"
    target.write_text("A=1\n")
    atomic_write(str(target), b"A=2\n", mode=0o640)
    assert target.read_bytes() == b"A=2\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert os.listdir(tmp_path) == ["app.env"]


def test_make_backup_is_0600_with_timestamp(tmp_path) -> None:
    target = tmp_path / ".env.production"
    first = make_backup(str(target), b"OLD=1\n")
    second = make_backup(str(target), b"OLD=2\n", str(tmp_path / "bk"))
    assert os.path.basename(first).startswith(".env.production.") and first.endswith("Z.bak")
    assert os.path.dirname(second) == str(tmp_path / "bk")
    for path in (first, second):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "bk").st_mode) == 0o700


def test_backup_name_adds_counter(tmp_path) -> None:
    target = str(tmp_path / "a.env")
    first = backup_name(target, now=0)
    assert first == str(tmp_path / "a.env.19700101T000000Z.bak")
    open(first, "w").close()
    assert backup_name(target, now=0) == str(tmp_path / "a.env.19700101T000000Z.1.bak")


# --- properties --------------------------------------------------------------

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
VALUES = st.text(alphabet=PRINTABLE, max_size=40)
KEYS = st.from_regex(KEY_RE.pattern.replace("\\Z", ""), fullmatch=True).filter(lambda k: len(k) <= 20)


@settings(max_examples=500)
@given(key=KEYS, value=VALUES)
def test_render_then_parse_round_trips(key: str, value: str) -> None:
    parsed = parse_env("%s=%s\n" % (key, render_value(value)))
    assert parsed.effective() == {key: Value(value, True)}


def _line(kind: int, key: str, value: str, comment: str, export: bool) -> str:
    if kind == 0:
        return ""
    if kind == 1:
        return "#" + comment
    if kind == 2:
        return " \t" * (len(comment) % 3)
    prefix = "export " if export else ""
    suffix = (" #" + comment) if comment and kind == 4 else ""
    return "%s%s=%s%s" % (prefix, key, render_value(value), suffix)


LINES = st.lists(
    st.tuples(
        st.integers(0, 4),
        KEYS,
        VALUES,
        st.text(alphabet=PRINTABLE, max_size=10),
        st.booleans(),
        st.sampled_from(["\n", "\r\n"]),
    ),
    max_size=12,
)


@settings(max_examples=300)
@given(lines=LINES, final_newline=st.booleans())
def test_file_round_trips_byte_for_byte_when_nothing_changes(lines, final_newline: bool) -> None:
    text = "".join(_line(*spec[:5]) + spec[5] for spec in lines)
    if not final_newline and text.endswith("\n"):
        text = text[: -2 if text.endswith("\r\n") else -1]
    env = parse_env(text)
    assert serialize(env) == text
    wanted = {k: v.text for k, v in env.effective().items() if v.literal}
    result = update_env(env, wanted)
    assert not result.changed
    assert serialize(result.env) == text


@settings(max_examples=200)
@given(lines=LINES, key=KEYS, value=VALUES)
def test_update_then_parse_gives_the_wanted_value(lines, key: str, value: str) -> None:
    text = "".join(_line(*spec[:5]) + spec[5] for spec in lines)
    result = update_env(parse_env(text), {key: value})
    again = parse_env(serialize(result.env))
    assert again.effective()[key] == Value(value, True)
    assert not update_env(again, {key: value}).changed
