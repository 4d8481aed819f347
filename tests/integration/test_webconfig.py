"""exporter.web.webconfig: parsing the exporter-toolkit web config file and checking basic auth.

Certificates are made here with `cryptography`; TLS contexts are exercised with real handshakes
over 127.0.0.1 sockets, not just inspected.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from pathlib import Path

import pytest

from exporter.web import webconfig
from exporter.web.webconfig import BasicAuthenticator, WebConfigError, load_web_config
from tests.support.pki import bcrypt_hash, make_cert


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """tmp_path/tls/ with a self-signed server cert, a client CA and a client cert it signed."""
    d = tmp_path / "tls"
    d.mkdir()
    make_cert(d / "server.crt", d / "server.key", "localhost")
    ca = make_cert(d / "ca.crt", d / "ca.key", "test client CA", is_ca=True)
    make_cert(d / "client.crt", d / "client.key", "scraper", issuer=ca)
    return d


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---------------------------------------------------------------- parsing


def test_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("")
    cfg = load_web_config(str(path))
    assert cfg.tls_cert_file is None and cfg.tls_key_file is None
    assert cfg.basic_auth_users == {}
    assert cfg.ssl_context() is None


def test_relative_paths_resolve_against_the_config_directory(
    pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: tls/server.crt\n  key_file: tls/server.key\n")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative to the file, not to the working directory
    cfg = load_web_config(str(path))
    assert cfg.tls_cert_file == str(pki / "server.crt")
    assert cfg.tls_key_file == str(pki / "server.key")
    assert cfg.client_auth_type == "NoClientCert"
    ctx = cfg.ssl_context()
    assert ctx is not None
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2  # exporter-toolkit's default
    assert ctx.verify_mode == ssl.CERT_NONE


def test_full_config_with_client_certs_min_version_and_users(pki: Path) -> None:
    alice = bcrypt_hash("wonderland")
    bob = bcrypt_hash("builder", prefix=b"$2y$")  # htpasswd's prefix
    path = pki / "web.yml"
    path.write_text(
        f"""
tls_server_config:
  cert_file: {pki / "server.crt"}
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS13
basic_auth_users:
  alice: '{alice}'
  bob: '{bob}'
"""
    )
    cfg = load_web_config(str(path))
    assert cfg.tls_cert_file == str(pki / "server.crt")  # absolute paths are kept
    assert cfg.client_ca_file == str(pki / "ca.crt")
    assert cfg.min_version == "TLS13"
    assert dict(cfg.basic_auth_users) == {"alice": alice, "bob": bob}
    ctx = cfg.ssl_context()
    assert ctx is not None
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_every_problem_is_listed_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(
        """
tls_server_config:
  cert_file: missing.crt
  client_auth_type: Sometimes
  min_version: TLS99
  max_version: TLS13
  sni: yes
basic_auth_users:
  carol: hunter2-plaintext
  "a:b": '$2b$04$abcdefghijklmnopqrstuuN3s0ZzW2b0q7c0l6x1v2Yw3Zb8mS0Gq'
http_server_config:
  http2: false
extra: 1
"""
    )
    with pytest.raises(WebConfigError) as err:
        load_web_config(str(path))
    msg = str(err.value)
    expected = [
        "extra: unknown key",
        "http_server_config: not supported",
        f"tls_server_config.cert_file: file not found: {tmp_path / 'missing.crt'}",
        "tls_server_config.key_file: required",
        "tls_server_config.client_auth_type: unknown value 'Sometimes'",
        "tls_server_config.min_version: unknown value 'TLS99'",
        "tls_server_config.max_version: not supported",
        "tls_server_config.sni: unknown key",
        "basic_auth_users.carol: value is not a bcrypt hash",
        "basic_auth_users.a:b: user name must not contain ':'",
    ]
    for part in expected:
        assert part in msg, part
    assert f"{len(expected)} problem(s)" in msg
    assert "\n" not in msg  # the daemon prints it as one line before exiting 2
    assert str(path) in msg
    assert "hunter2" not in msg  # a pasted plaintext password is never echoed


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("- a\n- b\n", "top level must be a mapping, got list"),
        ("tls_server_config: [\n", "invalid YAML"),
        ("tls_server_config: yes\n", "tls_server_config: must be a mapping"),
        ("basic_auth_users: [alice]\n", "basic_auth_users: must be a mapping"),
        ("basic_auth_users:\n  alice: 12\n", "basic_auth_users.alice: value is not a bcrypt"),
    ],
)
def test_malformed_files(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(body)
    with pytest.raises(WebConfigError) as err:
        load_web_config(str(path))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)  # YAML errors span lines; the message must not


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match="cannot read"):
        load_web_config(str(tmp_path / "nope.yml"))


def test_client_auth_rules(pki: Path) -> None:
    base = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
    cases = {
        "  client_ca_file: ca.crt\n": "client_ca_file is set but client_auth_type is NoClientCert",
        "  client_auth_type: VerifyClientCertIfGiven\n": "needs client_ca_file",
        "  client_auth_type: RequireAnyClientCert\n  client_ca_file: ca.crt\n": "not supported",
        "  client_auth_type: RequestClientCert\n  client_ca_file: ca.crt\n": "not supported",
    }
    path = pki / "web.yml"
    for extra, needle in cases.items():
        path.write_text(base + extra)
        with pytest.raises(WebConfigError) as err:
            load_web_config(str(path))
        assert needle in str(err.value), extra
    path.write_text(
        base + "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n"
    )
    ctx = load_web_config(str(path)).ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_OPTIONAL


def test_key_not_matching_certificate_fails_at_load(pki: Path) -> None:
    path = pki / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n")
    with pytest.raises(WebConfigError, match="cannot load TLS certificate"):
        load_web_config(str(path))


def test_garbage_pem_fails_at_load(pki: Path) -> None:
    (pki / "junk.crt").write_text("not a certificate\n")
    path = pki / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: junk.crt\n  key_file: server.key\n")
    with pytest.raises(WebConfigError, match="cannot load TLS certificate"):
        load_web_config(str(path))


# ---------------------------------------------------------------- real TLS handshakes


def _client_ctx(pki: Path, with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "server.crt"))
    if with_cert:
        ctx.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    return ctx


def _fetch(port: int, ctx: ssl.SSLContext) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.recv(16)


def _server_ctx(pki: Path, body: str) -> ssl.SSLContext:
    path = pki / "web.yml"
    path.write_text(body)
    ctx = load_web_config(str(path)).ssl_context()
    assert ctx is not None
    return ctx


@pytest.fixture
def mtls_ctx(pki: Path) -> ssl.SSLContext:
    return _server_ctx(
        pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )


@pytest.fixture
def tls12_only_client(pki: Path) -> ssl.SSLContext:
    ctx = _client_ctx(pki, with_cert=False)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def test_server_context_serves_tls(pki: Path) -> None:
    ctx = _server_ctx(pki, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    with _serve(ctx) as port:
        assert _fetch(port, _client_ctx(pki, with_cert=False)) == b"ok"


def test_required_client_cert_is_enforced(pki: Path, mtls_ctx: ssl.SSLContext) -> None:
    with _serve(mtls_ctx) as port:
        assert _fetch(port, _client_ctx(pki, with_cert=True)) == b"ok"
        # Under TLS 1.3 the server's rejection arrives after the client's handshake completes,
        # so it may surface on recv (as an SSLError or an empty read) rather than on connect.
        try:
            got = _fetch(port, _client_ctx(pki, with_cert=False))
        except (ssl.SSLError, ConnectionError):
            got = b""
        assert got == b""


def test_min_version_is_enforced(pki: Path, tls12_only_client: ssl.SSLContext) -> None:
    ctx = _server_ctx(
        pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  min_version: TLS13\n",
    )
    with _serve(ctx) as port, pytest.raises(ssl.SSLError):
        _fetch(port, tls12_only_client)


class _serve:
    """Context manager running a TLS server on a free 127.0.0.1 port."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with self._ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass  # a refused client is the expected outcome in some tests

    def __enter__(self) -> int:
        self._thread.start()
        port: int = self._listener.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


# ---------------------------------------------------------------- basic auth


@pytest.fixture(scope="module")
def auth() -> BasicAuthenticator:
    return BasicAuthenticator(
        {"alice": bcrypt_hash("wonderland"), "bob": bcrypt_hash("p:ss wörd", prefix=b"$2y$")}
    )


def test_right_credentials_pass(auth: BasicAuthenticator) -> None:
    assert auth.check(_basic("alice", "wonderland"))
    assert auth.check(_basic("bob", "p:ss wörd"))  # colon in password, non-ASCII, $2y$ hash
    assert auth.check("basic " + _basic("alice", "wonderland")[6:])  # scheme is case-insensitive


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer " + base64.b64encode(b"alice:wonderland").decode(),
        "Basic not*base64!",
        "Basic " + base64.b64encode(b"alice-no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:wonderland").decode(),
        _basic("alice", "wrong"),
        _basic("alice", "wonderland "),
        _basic("ALICE", "wonderland"),
        _basic("mallory", "wonderland"),
        _basic("", ""),
    ],
)
def test_wrong_missing_or_malformed_credentials_fail(
    auth: BasicAuthenticator, header: str | None
) -> None:
    assert auth.check(header) is False


def test_success_is_cached_and_failure_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = BasicAuthenticator({"alice": bcrypt_hash("wonderland")})
    calls: list[bytes] = []
    real = webconfig.bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", counting)
    good, bad = _basic("alice", "wonderland"), _basic("alice", "nope")

    assert not auth.is_cached(good)
    assert auth.check(good) and auth.check(good) and auth.check(good)
    assert len(calls) == 1
    assert auth.is_cached(good)

    assert not auth.check(bad) and not auth.check(bad)
    assert len(calls) == 3  # every failed attempt pays bcrypt again
    assert not auth.is_cached(bad)


def test_unknown_user_still_costs_a_bcrypt_check(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = BasicAuthenticator({"alice": bcrypt_hash("wonderland")})
    calls: list[bytes] = []
    real = webconfig.bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", counting)
    assert not auth.check(_basic("mallory", "wonderland"))
    assert len(calls) == 1  # no fast path that would reveal which users exist


def test_long_password_is_checked_on_its_first_72_bytes() -> None:
    password = "x" * 72
    auth = BasicAuthenticator({"alice": bcrypt_hash(password)})
    assert auth.check(_basic("alice", password + "tail"))  # bcrypt's own semantics
    assert not auth.check(_basic("alice", "x" * 71))


def test_authenticator_from_loaded_config(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: '{bcrypt_hash('scrape-me')}'\n")
    cfg = load_web_config(str(path))
    auth = BasicAuthenticator(cfg.basic_auth_users)
    assert auth.enabled
    assert auth.check(_basic("prometheus", "scrape-me"))
    assert not auth.check(_basic("prometheus", "scrape-you"))
    assert not BasicAuthenticator({}).enabled
