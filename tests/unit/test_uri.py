"""URIs: sip/sips/tel/other schemes, IPv6 references, escapes, parameters, headers, round trips (RFC 3261 §19.1,
RFC 3966, RFC 5118 §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipserver.errors import RemoteProtocolError
from sipserver.uri import Uri, parse_uri, parse_uri_uncached


def test_simple_sip_uri() -> None:
    uri = parse_uri("sip:alice@atlanta.example.com")
    assert uri == Uri("sip", "alice", None, "atlanta.example.com", None, {}, None, None)
    assert uri.is_sip
    assert uri.transport is None
    assert str(uri) == "sip:alice@atlanta.example.com"


def test_full_sip_uri() -> None:
    text = "sips:alice:secret@Atlanta.Example.COM:5061;transport=TLS;lr;maddr=192.0.2.1?subject=hi&priority=urgent"
    uri = parse_uri(text)
    assert uri.scheme == "sips"
    assert (uri.user, uri.password) == ("alice", "secret")
    assert uri.host == "atlanta.example.com"
    assert uri.port == 5061
    assert uri.params == {"transport": "TLS", "lr": None, "maddr": "192.0.2.1"}
    assert list(uri.params) == ["transport", "lr", "maddr"]
    assert uri.transport == "tls"
    assert uri.headers == "subject=hi&priority=urgent"
    assert str(uri) == text.replace("Atlanta.Example.COM", "atlanta.example.com")


def test_scheme_and_param_names_are_lower_cased_values_kept() -> None:
    uri = parse_uri("SIP:Bob@Host;Transport=UDP;User=Phone")
    assert uri.scheme == "sip"
    assert uri.user == "Bob"  # the user part is case-sensitive
    assert uri.params == {"transport": "UDP", "user": "Phone"}


def test_host_only_and_port() -> None:
    uri = parse_uri("sip:registrar.example.com:5070")
    assert uri.user is None and uri.host == "registrar.example.com" and uri.port == 5070
    assert str(uri) == "sip:registrar.example.com:5070"
    assert uri.host_port == "registrar.example.com:5070"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "[2001:db8::10]", None),
        ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),
        ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),  # RFC 5118 §4.3: no port
        ("sip:user@[2001:db8::192.0.2.1]", "[2001:db8::192.0.2.1]", None),
        ("sip:user@[2001:db8:::192.0.2.1]", "[2001:db8:::192.0.2.1]", None),  # §4.10: tolerated
        ("sip:ted@[::ffff:192.0.2.2]", "[::ffff:192.0.2.2]", None),
        ("sip:[2001:DB8::A]", "[2001:db8::a]", None),
    ],
)
def test_ipv6_references(text: str, host: str, port: int | None) -> None:
    uri = parse_uri(text)
    assert (uri.host, uri.port) == (host, port)


@pytest.mark.parametrize(
    "text",
    [
        "sip:2001:db8::10",  # RFC 5118 §4.2: IPv6 without brackets
        "sip:[2001:db8::10",
        "sip:[]",
        "sip:[1.2.3.4]",
        "sip:[2001:db8::1]x",
        "sip:user@example.com; lr",  # RFC 4475 lwsruri
        "<sip:user@example.com>",  # RFC 4475 ltgtruri
        "sip:user@example.com>",
        "sip:",
        "sip:@example.com",
        "sip:user@",
        "sip:user@:5060",
        "sip:host:99999",
        "sip:host:123456",
        "sip:host:",
        "sip:host:abc",
        "sip:host;",
        "sip:host;;lr",
        "sip:host;=x",
        "sip:us er@host",
        "sip:user@ho st",
        "sip:user@host\r\n",
        "sip:user@-host",
        "sip:user@host?a=b c",
        "tel:",
        "tel:+1 555",
        "user@example.com",
        ":opaque",
        "1abc:foo",
        "foo:",
        "foo:bar baz",
        "foo:<x>",
        "",
    ],
)
def test_malformed_uris_are_400(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_uri(text)
    assert info.value.status_hint == 400


def test_port_bounds() -> None:
    assert parse_uri("sip:h:0").port == 0
    assert parse_uri("sip:h:65535").port == 65535
    with pytest.raises(RemoteProtocolError):
        parse_uri("sip:h:65536")


def test_unusual_user_part_rfc4475_intmeth() -> None:
    text = (
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
        "@example.com"
    )
    uri = parse_uri(text)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert uri.params == {} and uri.headers is None
    assert str(uri) == text


def test_semicolon_in_user_part_rfc4475_semiuri() -> None:
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net"
    assert uri.host == "example.com"
    assert uri.params == {}
    assert uri.unescaped_user == "user;par=u@example.net"


def test_escapes_rfc4475_esc01_and_escnull() -> None:
    uri = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert uri.scheme == "sip" and uri.host == "example.net"
    assert uri.user == "sips%3Auser%40example.com"  # kept as written
    assert uri.unescaped_user == "sips:user@example.com"
    assert parse_uri("sip:%75se%72@example.com").unescaped_user == "user"
    assert parse_uri("sip:null-%00-null@example.com").unescaped_user == "null-\x00-null"
    a, b = parse_uri("sip:%00@host5.example.com"), parse_uri("sip:%00%00@host5.example.com")
    assert a.unescaped_user == "\x00" and b.unescaped_user == "\x00\x00"  # two distinct users
    assert a.aor != b.aor
    contact = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert contact.unescaped_user == "caller"
    assert contact.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}


def test_unescaped_user_keeps_invalid_utf8_distinct() -> None:
    uri = parse_uri("sip:%FF%FE@h")
    assert uri.unescaped_user is not None
    assert uri.unescaped_user.encode("utf-8", "surrogateescape") == b"\xff\xfe"
    assert parse_uri("sip:h").unescaped_user is None


def test_headers_are_inert_text_rfc4475_escruri_regescrt() -> None:
    uri = parse_uri("sip:user@example.com?Route=%3Csip:example.com%3E")
    assert uri.headers == "Route=%3Csip:example.com%3E"
    assert uri.params == {}
    assert str(uri) == "sip:user@example.com?Route=%3Csip:example.com%3E"


def test_feature_code_user_and_unescaped_at_in_headers_are_tolerated() -> None:
    assert parse_uri("sip:*72#@pbx.example.com").user == "*72#"
    uri = parse_uri("sip:bob@b.example.com?Replaces=123%40a%3Bto-tag%3D1")
    assert uri.headers == "Replaces=123%40a%3Bto-tag%3D1"


def test_tel_uris() -> None:
    uri = parse_uri("tel:+3222211089")
    assert (uri.scheme, uri.user, uri.host, uri.params) == ("tel", "+3222211089", "", {})
    assert not uri.is_sip
    local = parse_uri("tel:7042;phone-context=example.com")
    assert local.user == "7042" and local.params == {"phone-context": "example.com"}
    assert str(local) == "tel:7042;phone-context=example.com"
    assert parse_uri("TEL:+1-201-555-0123").user == "+1-201-555-0123"
    assert parse_uri("tel:+1-201-555-0123").aor == "tel:+1-201-555-0123"


@pytest.mark.parametrize(
    ("text", "scheme", "opaque"),
    [
        ("nobodyKnowsThisScheme:totallyopaquecontent", "nobodyknowsthisscheme", "totallyopaquecontent"),
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
        ("isbn:2983792873", "isbn", "2983792873"),
        ("http://www.example.com", "http", "//www.example.com"),
        ("name:John_Smith", "name", "John_Smith"),
        ("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "urn", "uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
    ],
)
def test_unknown_schemes_are_opaque(text: str, scheme: str, opaque: str) -> None:
    uri = parse_uri(text)
    assert (uri.scheme, uri.opaque, uri.user, uri.host) == (scheme, opaque, None, "")
    assert not uri.is_sip
    assert str(uri) == f"{scheme}:{opaque}"


def test_copy_and_with_params_do_not_touch_the_original() -> None:
    uri = parse_uri("sip:alice@example.com;transport=tcp")
    other = uri.with_params(lr=None).with_params({"maddr": "192.0.2.1", "Transport": "udp"})
    assert uri.params == {"transport": "tcp"}
    assert other.params == {"transport": "udp", "lr": None, "maddr": "192.0.2.1"}
    assert str(other) == "sip:alice@example.com;transport=udp;lr;maddr=192.0.2.1"
    assert str(other.without_params("LR", "maddr")) == "sip:alice@example.com;transport=udp"
    moved = uri.copy(port=5070, user=None)
    assert str(moved) == "sip:example.com:5070;transport=tcp"
    assert str(uri) == "sip:alice@example.com;transport=tcp"


def test_aor_and_views() -> None:
    assert parse_uri("sip:Alice@Example.COM:5060;transport=udp").aor == "sip:Alice@example.com"
    assert parse_uri("sips:example.com").aor == "sips:example.com"
    assert parse_uri("foo:bar").aor == "foo:bar"


def test_memoized_results_are_never_shared() -> None:
    text = "sip:shared@example.com;transport=udp"
    first = parse_uri(text)
    first.params["transport"] = "tcp"
    first.host = "evil.example.com"
    second = parse_uri(text)
    assert second.params == {"transport": "udp"} and second.host == "example.com"
    assert second == parse_uri_uncached(text)
    assert second.params is not parse_uri(text).params


# -- property tests ----------------------------------------------------------------------------------------------
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_label = st.text(_ALNUM, min_size=1, max_size=8)
_hostnames = st.lists(_label, min_size=1, max_size=4).map(lambda labels: ".".join(labels).lower())
_ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_ipv6 = st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8).map(
    lambda groups: "[" + ":".join(f"{g:x}" for g in groups) + "]"
)
_users = st.text(_ALNUM + "-_.!~*'()&=+$,;?/", min_size=1, max_size=12)
_pnames = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8)
_pvalues = st.none() | st.text(_ALNUM + "-_.!~*'()[]/:&+$%", min_size=1, max_size=8).filter(
    lambda v: "%" not in v
)


@st.composite
def sip_uris(draw: st.DrawFn) -> Uri:
    return Uri(
        draw(st.sampled_from(["sip", "sips"])),
        draw(st.none() | _users),
        None,
        draw(_hostnames | _ipv4 | _ipv6),
        draw(st.none() | st.integers(0, 65535)),
        draw(st.dictionaries(_pnames, _pvalues, max_size=4)),
        draw(st.none() | st.text(_ALNUM + "=&%", max_size=10).filter(lambda v: "%" not in v)),
        None,
    )


@given(sip_uris())
def test_generated_uris_round_trip(uri: Uri) -> None:
    text = str(uri)
    parsed = parse_uri(text)
    assert parsed == uri
    assert str(parsed) == text


@given(st.text(max_size=60))
def test_random_text_only_raises_remote_protocol_error(text: str) -> None:
    try:
        uri = parse_uri(text)
    except RemoteProtocolError as exc:
        assert exc.status_hint == 400
    else:
        str(uri)  # anything accepted can be written back
        if uri.is_sip:
            assert parse_uri(str(uri)) == uri
