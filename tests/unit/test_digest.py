"""Unit tests of sipserver.digest: RFC vectors, parsing, challenges, nonce lifetime, replay, enumeration."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipserver import digest
from sipserver.digest import (
    ALGORITHMS,
    AuthResult,
    Credentials,
    DigestAuthenticator,
    digest_response,
    ha1,
    parse_credentials,
)

REALM = "example.com"
SECRET = b"0123456789abcdef0123456789abcdef"
T0 = 1_700_000_000.0
ALICE = {alg: ha1("alice", REALM, "s3cret", alg) for alg in ALGORITHMS}


def nonce_of(header_value: str) -> str:
    return header_value.split('nonce="', 1)[1].split('"', 1)[0]


def make_creds(
    auth: DigestAuthenticator,
    *,
    now: float = T0,
    algorithm: str = "SHA-256",
    nc: int | None = 1,
    cnonce: str | None = "0a4f113b",
    qop: str | None = "auth",
    username: str = "alice",
    password: str = "s3cret",
    realm: str = REALM,
    nonce: str | None = None,
    method: str = "REGISTER",
    uri: str = "sip:example.com",
) -> Credentials:
    """What a client computes after `auth` challenged it at `now`."""
    if nonce is None:
        nonce = nonce_of(auth.challenge_headers(realm, now)[0][1])
    key = ha1(username, realm, password, algorithm)
    response = digest_response(algorithm, key, nonce, method, uri, qop=qop, nc=nc, cnonce=cnonce)
    return Credentials(username, realm, nonce, uri, response, algorithm, qop, nc, cnonce)


@pytest.fixture
def auth() -> DigestAuthenticator:
    return DigestAuthenticator(SECRET, nonce_lifetime=300.0)


# -- published vectors ---------------------------------------------------------------------------------------

RFC7616_AUTHORIZATION = """Digest username="Mufasa",
       realm="http-auth@example.org",
       uri="/dir/index.html",
       algorithm={alg},
       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
       nc=00000001,
       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
       qop=auth,
       response="{response}",
       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""""


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_3_9_1_vectors(algorithm: str, expected: str) -> None:
    value = RFC7616_AUTHORIZATION.format(alg=algorithm, response=expected).replace("\n", "\r\n")
    creds = parse_credentials(value)
    assert creds == Credentials(
        username="Mufasa",
        realm="http-auth@example.org",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        uri="/dir/index.html",
        response=expected,
        algorithm=algorithm,
        qop="auth",
        nc=1,
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    )
    key = ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    got = digest_response(
        algorithm, key, creds.nonce, "GET", creds.uri, qop=creds.qop, nc=creds.nc, cnonce=creds.cnonce
    )
    assert got == expected


def test_rfc2617_3_5_vector() -> None:
    creds = parse_credentials(
        'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", '
        'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert creds is not None
    assert creds.algorithm == "MD5"  # absent means MD5
    key = ha1("Mufasa", "testrealm@host.com", "Circle Of Life", "MD5")
    assert key == "939e7578ed9e3c518a452acee763bce9"
    assert digest_response(
        "MD5", key, creds.nonce, "GET", creds.uri, qop="auth", nc=1, cnonce="0a4f113b"
    ) == (creds.response)


def test_rfc2069_response_without_qop() -> None:
    key = ha1("Mufasa", "testrealm@host.com", "Circle Of Life", "MD5")
    ha2 = hashlib.md5(b"GET:/dir/index.html").hexdigest()
    expected = hashlib.md5(f"{key}:abc:{ha2}".encode()).hexdigest()
    assert digest_response("MD5", key, "abc", "GET", "/dir/index.html") == expected


def test_ha1_algorithms() -> None:
    assert ha1("a", "r", "p", "md5") == hashlib.md5(b"a:r:p").hexdigest()
    assert ha1("a", "r", "p", "SHA-256") == hashlib.sha256(b"a:r:p").hexdigest()
    with pytest.raises(ValueError):
        ha1("a", "r", "p", "MD5-sess")
    with pytest.raises(ValueError):
        digest_response("SHA-512-256", "x", "n", "REGISTER", "sip:x")
    with pytest.raises(ValueError):
        digest_response("MD5", "x", "n", "REGISTER", "sip:x", qop="auth")  # no nc/cnonce


# -- parsing -------------------------------------------------------------------------------------------------


def test_regaut01_unknown_scheme_is_none() -> None:
    assert parse_credentials("NoOneKnowsThisScheme opaque-data=here") is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "Digest",
        "Digest ",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        'Digestusername="a"',
        # missing required fields
        'Digest realm="r", nonce="n", uri="sip:x", response="abc"',
        'Digest username="a", nonce="n", uri="sip:x", response="abc"',
        'Digest username="a", realm="r", uri="sip:x", response="abc"',
        'Digest username="a", realm="r", nonce="n", response="abc"',
        'Digest username="a", realm="r", nonce="n", uri="sip:x"',
        'Digest username="", realm="r", nonce="n", uri="sip:x", response="abc"',
        # qop without nc / cnonce, bad nc
        'Digest username="a", realm="r", nonce="n", uri="sip:x", response="abc", qop=auth, nc=00000001',
        'Digest username="a", realm="r", nonce="n", uri="sip:x", response="abc", qop=auth, cnonce="c"',
        'Digest username="a", realm="r", nonce="n", uri="sip:x", response="abc", qop=auth, cnonce="c", nc=1',
        'Digest username="a", realm="r", nonce="n", uri="sip:x", response="abc", qop=auth, cnonce="c", '
        "nc=0000000g",
        # garbled syntax
        'Digest username="a, realm="r", nonce="n", uri="sip:x", response="abc"',
        'Digest username="a" realm="r", nonce="n", uri="sip:x", response="abc"',
        'Digest username="a"x, realm="r", nonce="n", uri="sip:x", response="abc"',
        'Digest username=, realm="r", nonce="n", uri="sip:x", response="abc"',
        'Digest username="a", realm="r", nonce="n", uri="sip:x", response="abc", =x',
        'Digest username="a", realm="r", nonce="n", uri="sip:x", response="abc", novalue',
        'Digest username="a", realm="r", nonce="n", uri="sip:x", response="abc\\',
        'Digest user name="a", realm="r", nonce="n", uri="sip:x", response="abc"',
        # duplicate parameter
        'Digest username="a", username="b", realm="r", nonce="n", uri="sip:x", response="abc"',
    ],
)
def test_unusable_values_are_none(value: str) -> None:
    assert parse_credentials(value) is None


def test_lws_case_escapes_and_unknown_params() -> None:
    creds = parse_credentials(
        'dIgEsT   USERNAME = "al\\"ice" ,, Realm="example.com",NONCE="n1",\r\n\t'
        'uri=sip:example.com;transport=tcp, response="ABCDEF", ALGORITHM=sha-256, qop="AUTH", '
        'nc=0000000A, cnonce="c\\\\1", userhash=false, future="x, y",   '
    )
    assert creds == Credentials(
        username='al"ice',
        realm="example.com",
        nonce="n1",
        uri="sip:example.com;transport=tcp",
        response="ABCDEF",
        algorithm="SHA-256",
        qop="auth",
        nc=10,
        cnonce="c\\1",
        opaque=None,
    )


def test_sess_and_unknown_algorithms_parse_but_do_not_verify(auth: DigestAuthenticator) -> None:
    base = 'Digest username="a", realm="r", nonce="n", uri="sip:x", response="abc", algorithm='
    md5_sess = parse_credentials(base + "md5-sess")
    other = parse_credentials(base + "SHA3-512")
    assert md5_sess is not None and md5_sess.algorithm == "MD5-sess"
    assert other is not None and other.algorithm == "SHA3-512"
    assert auth.verify(md5_sess, "REGISTER", ALICE, "r", T0) is AuthResult.UNSUPPORTED


def test_sipp_and_pjsip_style_headers() -> None:
    sipp = parse_credentials(
        'Digest username="alice",realm="127.0.0.1",cnonce="6b8b4567",nc=00000001,qop=auth,'
        'uri="sip:127.0.0.1:5099",nonce="AAZhWRjZEC5U2b9GvpmQpvzP-H8sagb6",'
        'response="57e6d537eda25b47877e51b88bdc888c",algorithm=MD5'
    )
    assert sipp is not None and sipp.nc == 1 and sipp.cnonce == "6b8b4567"
    pjsip = parse_credentials(
        'Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", '
        'response="0123", algorithm=MD5, cnonce="x-y.z", qop=auth, nc=00000002'
    )
    assert pjsip is not None and pjsip.nc == 2


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_garbled_text_never_raises(value: str) -> None:
    result = parse_credentials(value)
    assert result is None or isinstance(result, Credentials)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                '"',
                "\\",
                ",",
                "=",
                " ",
                "\r\n ",
                "Digest ",
                "username",
                "realm",
                "nonce",
                "uri",
                "response",
                "qop",
                "nc",
                "cnonce",
                "00000001",
                "auth",
                "x",
                "\x00",
                "\udcff",
                "é",
            ]
        ),
        max_size=40,
    )
)
def test_garbled_digest_fragments_never_raise(parts: list[str]) -> None:
    result = parse_credentials("Digest " + "".join(parts))
    assert result is None or isinstance(result, Credentials)


# -- challenges ----------------------------------------------------------------------------------------------


def test_challenge_sha256_first_then_md5(auth: DigestAuthenticator) -> None:
    headers = auth.challenge_headers(REALM, T0)
    assert [name for name, _ in headers] == ["WWW-Authenticate", "WWW-Authenticate"]
    sha, md5 = (value for _, value in headers)
    nonce = nonce_of(sha)
    assert sha == f'Digest realm="example.com", nonce="{nonce}", qop="auth", algorithm=SHA-256'
    assert md5 == f'Digest realm="example.com", nonce="{nonce}", qop="auth", algorithm=MD5'


def test_challenge_proxy_stale_and_quoting(auth: DigestAuthenticator) -> None:
    headers = auth.challenge_headers('we"ird\\realm', T0, stale=True, proxy=True)
    assert [name for name, _ in headers] == ["Proxy-Authenticate", "Proxy-Authenticate"]
    for _, value in headers:
        assert value.startswith('Digest realm="we\\"ird\\\\realm", ')
        assert value.endswith(", stale=true")


def test_challenge_algorithm_choice(auth: DigestAuthenticator) -> None:
    # SIPp 3.6 answers only the first challenge and knows only MD5: callers can put MD5 first or alone.
    assert [v.rsplit("=", 1)[1] for _, v in auth.challenge_headers(REALM, T0, algorithms=("MD5",))] == ["MD5"]
    with pytest.raises(ValueError):
        auth.challenge_headers(REALM, T0, algorithms=("SHA-512",))


def test_challenges_do_not_depend_on_the_user(auth: DigestAuthenticator) -> None:
    # The API takes no user at all; the same `now` gives byte-identical challenges, whoever asked.
    other = DigestAuthenticator(SECRET)
    assert auth.challenge_headers(REALM, T0) == auth.challenge_headers(REALM, T0)
    assert auth.challenge_headers(REALM, T0) == other.challenge_headers(REALM, T0)
    # ...and failed attempts by known and unknown users leave the next challenge unchanged.
    known = make_creds(auth, password="wrong")
    unknown = make_creds(auth, username="nobody", password="x")
    assert auth.verify(known, "REGISTER", ALICE, REALM, T0) is AuthResult.WRONG
    assert auth.verify(unknown, "REGISTER", None, REALM, T0) is AuthResult.WRONG
    assert auth.challenge_headers(REALM, T0 + 1) == other.challenge_headers(REALM, T0 + 1)


def test_unknown_user_costs_the_same_hashing(
    auth: DigestAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def counting(data: bytes) -> digest._HashObject:
        calls.append(len(data))
        return hashlib.sha256(data)

    known = make_creds(auth, password="wrong")
    unknown = make_creds(auth, username="nobody", password="x")
    monkeypatch.setitem(digest._HASHES, "SHA-256", counting)
    assert auth.verify(known, "REGISTER", ALICE, REALM, T0) is AuthResult.WRONG
    known_calls = list(calls)
    calls.clear()
    assert auth.verify(unknown, "REGISTER", None, REALM, T0) is AuthResult.WRONG
    assert len(calls) == len(known_calls) == 2
    # Same-length inputs: the stand-in HA1 has the length of a real one (username length aside, not hashed).
    assert calls[1] == known_calls[1]


# -- verification --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_roundtrip_ok(auth: DigestAuthenticator, algorithm: str) -> None:
    creds = make_creds(auth, algorithm=algorithm)
    assert auth.verify(creds, "REGISTER", ALICE, REALM, T0 + 0.2) is AuthResult.OK
    assert AuthResult.OK.ok and not AuthResult.WRONG.ok


def test_roundtrip_through_the_wire_format(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge_headers(REALM, T0)[1][1])
    response = digest_response(
        "MD5", ALICE["MD5"], nonce, "INVITE", "sip:bob@example.com", qop="auth", nc=1, cnonce="xyz"
    )
    value = (
        f'Digest username="alice", realm="example.com", nonce="{nonce}", uri="sip:bob@example.com", '
        f'response="{response.upper()}", algorithm=MD5, cnonce="xyz", qop=auth, nc=00000001'
    )
    creds = parse_credentials(value)
    assert creds is not None
    upper = {alg: key.upper() for alg, key in ALICE.items()}  # stored HA1 case does not matter
    assert auth.verify(creds, "INVITE", upper, REALM, T0 + 1) is AuthResult.OK
    assert auth.verify(creds, "INVITE", upper, REALM, T0 + 2) is AuthResult.REPLAY


def test_wrong_password_method_or_unknown_user(auth: DigestAuthenticator) -> None:
    assert auth.verify(make_creds(auth, password="nope"), "REGISTER", ALICE, REALM, T0) is AuthResult.WRONG
    creds = make_creds(auth)
    assert auth.verify(creds, "INVITE", ALICE, REALM, T0) is AuthResult.WRONG  # method is in H(A2)
    assert auth.verify(creds, "REGISTER", None, REALM, T0) is AuthResult.WRONG
    assert auth.verify(creds, "REGISTER", {"MD5": ALICE["MD5"]}, REALM, T0) is AuthResult.WRONG
    garbage = Credentials("alice", REALM, creds.nonce, creds.uri, "zé", "SHA-256", "auth", 1, "c")
    assert auth.verify(garbage, "REGISTER", ALICE, REALM, T0) is AuthResult.WRONG


def test_stale_after_lifetime(auth: DigestAuthenticator) -> None:
    creds = make_creds(auth)
    assert auth.verify(creds, "REGISTER", ALICE, REALM, T0 + 300.5) is AuthResult.STALE
    # A wrong digest on an old nonce is WRONG, not STALE (stale=true promises the password was right).
    bad = make_creds(auth, password="nope")
    assert auth.verify(bad, "REGISTER", ALICE, REALM, T0 + 300.5) is AuthResult.WRONG
    # Still fresh just before the end of the lifetime.
    assert auth.verify(creds, "REGISTER", ALICE, REALM, T0 + 299.9) is AuthResult.OK
    # A nonce from far in the future (clock stepped back) is not accepted either.
    assert (
        auth.verify(make_creds(auth, now=T0 + 1000, nc=1), "REGISTER", ALICE, REALM, T0) is AuthResult.STALE
    )


def test_forged_and_garbage_nonces(auth: DigestAuthenticator) -> None:
    real = nonce_of(auth.challenge_headers(REALM, T0)[0][1])
    raw = base64.urlsafe_b64decode(real)
    tampered_time = base64.urlsafe_b64encode(bytes([raw[0] ^ 1]) + raw[1:]).decode()
    tampered_mac = base64.urlsafe_b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()
    other_secret = nonce_of(
        DigestAuthenticator(b"another secret, 32 bytes long!!!").challenge_headers(REALM, T0)[0][1]
    )
    std_alphabet = base64.b64encode(raw).decode()  # differs only when the nonce holds '-' or '_'
    candidates = [
        tampered_time,
        tampered_mac,
        other_secret,
        "abc",
        "",
        "é" * 32,
        "=" * 32,
        real[:-1] + "!",
        real + "A",
    ]
    if std_alphabet != real:
        candidates.append(std_alphabet)
    for nonce in candidates:
        creds = make_creds(auth, nonce=nonce)
        assert auth.verify(creds, "REGISTER", ALICE, REALM, T0) is AuthResult.BAD_NONCE, nonce


def test_nonce_from_another_realm(auth: DigestAuthenticator) -> None:
    foreign = nonce_of(auth.challenge_headers("other.example", T0)[0][1])
    # Credentials computed for our realm but with the other realm's nonce:
    creds = make_creds(auth, nonce=foreign)
    assert auth.verify(creds, "REGISTER", ALICE, REALM, T0) is AuthResult.BAD_NONCE
    # Credentials made for the other realm altogether, presented to ours:
    theirs = make_creds(auth, realm="other.example")
    assert auth.verify(theirs, "REGISTER", ALICE, REALM, T0) is AuthResult.BAD_NONCE
    assert (
        auth.verify(
            theirs,
            "REGISTER",
            {a: ha1("alice", "other.example", "s3cret", a) for a in ALGORITHMS},
            "other.example",
            T0,
        )
        is AuthResult.OK
    )


def test_shared_secret_across_instances() -> None:
    first, second = DigestAuthenticator(SECRET), DigestAuthenticator(SECRET)
    creds = make_creds(first)
    assert second.verify(creds, "REGISTER", ALICE, REALM, T0 + 5) is AuthResult.OK
    assert DigestAuthenticator().verify(creds, "REGISTER", ALICE, REALM, T0 + 5) is AuthResult.BAD_NONCE


def test_replay_and_increasing_nc(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge_headers(REALM, T0)[0][1])

    def attempt(nc: int, cnonce: str = "c1", at: float = T0 + 1) -> AuthResult:
        return auth.verify(make_creds(auth, nonce=nonce, nc=nc, cnonce=cnonce), "REGISTER", ALICE, REALM, at)

    assert attempt(1) is AuthResult.OK
    assert attempt(1) is AuthResult.REPLAY
    assert attempt(2) is AuthResult.OK
    assert attempt(5) is AuthResult.OK  # gaps are fine
    assert attempt(3) is AuthResult.REPLAY  # lower than the last accepted
    assert attempt(5) is AuthResult.REPLAY
    assert attempt(6) is AuthResult.OK
    # Another client sharing the nonce (same issue microsecond) has its own count.
    assert attempt(1, cnonce="c2") is AuthResult.OK
    assert attempt(0, cnonce="c3") is AuthResult.REPLAY  # counts start at 1
    # A rejected forgery does not move the count.
    forged = make_creds(auth, nonce=nonce, nc=7, cnonce="c1", password="guess")
    assert auth.verify(forged, "REGISTER", ALICE, REALM, T0 + 1) is AuthResult.WRONG
    assert attempt(7) is AuthResult.OK


def test_without_qop_is_accepted_within_lifetime_only(auth: DigestAuthenticator) -> None:
    creds = make_creds(auth, qop=None, nc=None, cnonce=None)
    assert auth.verify(creds, "REGISTER", ALICE, REALM, T0 + 1) is AuthResult.OK
    assert (
        auth.verify(creds, "REGISTER", ALICE, REALM, T0 + 2) is AuthResult.OK
    )  # documented: no nc, no check
    assert auth.verify(creds, "REGISTER", ALICE, REALM, T0 + 301) is AuthResult.STALE
    assert auth.tracked_nonces == 0


def test_unsupported_qop_and_incomplete_credentials(auth: DigestAuthenticator) -> None:
    creds = make_creds(auth)
    auth_int = Credentials(
        creds.username, REALM, creds.nonce, creds.uri, creds.response, "SHA-256", "auth-int", 1, "c"
    )
    assert auth.verify(auth_int, "REGISTER", ALICE, REALM, T0) is AuthResult.UNSUPPORTED
    no_nc = Credentials(
        creds.username, REALM, creds.nonce, creds.uri, creds.response, "SHA-256", "auth", None, "c"
    )
    assert auth.verify(no_nc, "REGISTER", ALICE, REALM, T0) is AuthResult.WRONG
    no_uri = Credentials(creds.username, REALM, creds.nonce, "", creds.response, "SHA-256", "auth", 1, "c")
    assert auth.verify(no_uri, "REGISTER", ALICE, REALM, T0) is AuthResult.WRONG


def test_uri_is_not_compared_to_the_request_uri(auth: DigestAuthenticator) -> None:
    creds = make_creds(auth, uri="sip:registrar.example.com:5060;transport=udp")
    assert auth.verify(creds, "REGISTER", ALICE, REALM, T0) is AuthResult.OK


def test_eviction_is_bounded_and_never_reopens_replays() -> None:
    auth = DigestAuthenticator(SECRET, nonce_lifetime=300.0, max_tracked_nonces=2)
    first = make_creds(auth, now=T0, cnonce="a")
    second = make_creds(auth, now=T0 + 1, cnonce="b")
    third = make_creds(auth, now=T0 + 2, cnonce="c")
    for creds in (first, second, third):
        assert auth.verify(creds, "REGISTER", ALICE, REALM, T0 + 3) is AuthResult.OK
    assert auth.tracked_nonces == 2
    # The first count was forgotten: its replay is not accepted, it is sent for a fresh nonce.
    assert auth.verify(first, "REGISTER", ALICE, REALM, T0 + 4) is AuthResult.STALE
    next_first = make_creds(auth, now=T0, cnonce="a", nc=2)
    assert auth.verify(next_first, "REGISTER", ALICE, REALM, T0 + 4) is AuthResult.STALE
    # Tracked ones keep their counts.
    assert auth.verify(third, "REGISTER", ALICE, REALM, T0 + 4) is AuthResult.REPLAY
    # A fresh challenge works again.
    assert auth.verify(make_creds(auth, now=T0 + 5, cnonce="d"), "REGISTER", ALICE, REALM, T0 + 5) is (
        AuthResult.OK
    )


def test_expired_entries_are_dropped() -> None:
    auth = DigestAuthenticator(SECRET, nonce_lifetime=60.0)
    for i in range(5):
        assert (
            auth.verify(make_creds(auth, cnonce=f"c{i}"), "REGISTER", ALICE, REALM, T0 + 1) is AuthResult.OK
        )
    assert auth.tracked_nonces == 5
    later = make_creds(auth, now=T0 + 100)
    assert auth.verify(later, "REGISTER", ALICE, REALM, T0 + 100) is AuthResult.OK
    assert auth.tracked_nonces == 1


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        DigestAuthenticator(b"short")
    with pytest.raises(ValueError):
        DigestAuthenticator(SECRET, nonce_lifetime=0)
    with pytest.raises(ValueError):
        DigestAuthenticator(SECRET, max_tracked_nonces=0)


def test_non_utf8_bytes_hash_as_on_the_wire(auth: DigestAuthenticator) -> None:
    # sipserver.message decodes with surrogateescape: a Latin-1 byte in the username arrives as U+DCE9.
    wire_user = b"ren\xe9".decode("utf-8", "surrogateescape")
    stored = {a: ha1(wire_user, REALM, "pw", a) for a in ALGORITHMS}
    creds = make_creds(auth, username=wire_user, password="pw")
    assert auth.verify(creds, "REGISTER", stored, REALM, T0) is AuthResult.OK
    lone = Credentials("x", REALM, creds.nonce, "sip:\ud800", creds.response, "SHA-256", "auth", 1, "c")
    assert auth.verify(lone, "REGISTER", stored, REALM, T0) is AuthResult.WRONG
