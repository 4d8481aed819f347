"""The Prometheus exporter-toolkit web config file (``--web-config-file``): TLS and basic auth.

The format is the one every official exporter reads, so operators can reuse their files:
https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md

Python's ``ssl`` module cannot express every Go ``crypto/tls`` option, so the subset accepted
here is smaller; keys we do not implement are rejected by name instead of silently ignored, since
a security setting that is quietly dropped is worse than a refusal to start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import bcrypt
import yaml

__all__ = ["BasicAuthenticator", "WebConfig", "WebConfigError", "load_web_config", "server_options"]


class WebConfigError(ValueError):
    """The web config file is unusable; the message lists every problem found."""


# exporter-toolkit's client_auth_type values mapped to ssl verify modes. RequestClientCert and
# RequireAnyClientCert ask for a certificate *without* verifying it, which OpenSSL via Python's
# ssl module cannot do, so they are refused rather than upgraded or downgraded silently.
_CLIENT_AUTH_MODES: Mapping[str, ssl.VerifyMode] = MappingProxyType(
    {
        "NoClientCert": ssl.CERT_NONE,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }
)
_UNSUPPORTED_CLIENT_AUTH = frozenset({"RequestClientCert", "RequireAnyClientCert"})

_TLS_VERSIONS: Mapping[str, ssl.TLSVersion] = MappingProxyType(
    {
        "TLS10": ssl.TLSVersion.TLSv1,
        "TLS11": ssl.TLSVersion.TLSv1_1,
        "TLS12": ssl.TLSVersion.TLSv1_2,
        "TLS13": ssl.TLSVersion.TLSv1_3,
    }
)
# exporter-toolkit's default when min_version is not set.
_DEFAULT_MIN_VERSION = "TLS12"

_TOP_KEYS = frozenset({"tls_server_config", "basic_auth_users"})
_TOP_UNSUPPORTED = frozenset({"http_server_config", "rate_limit"})
_TLS_KEYS = frozenset(
    {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"}
)
_TLS_UNSUPPORTED = frozenset(
    {
        "cert",
        "key",
        "client_ca",
        "client_allowed_sans",
        "max_version",
        "cipher_suites",
        "curve_preferences",
        "prefer_server_cipher_suites",
    }
)

# $2a$, $2b$ and $2y$ (htpasswd) are the same algorithm; bcrypt accepts all three.
_BCRYPT_RE = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")


@dataclass(frozen=True)
class WebConfig:
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    client_ca_file: str | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str | None = None
    basic_auth_users: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert_file is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A server-side context, or None when the config does not turn TLS on.

        Raises WebConfigError when the files cannot be loaded (bad PEM, key not matching cert).
        """
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _TLS_VERSIONS[self.min_version or _DEFAULT_MIN_VERSION]
        try:
            ctx.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        except (ssl.SSLError, OSError) as exc:
            raise WebConfigError(
                f"cannot load TLS certificate {self.tls_cert_file!r} with key "
                f"{self.tls_key_file!r}: {exc}"
            ) from exc
        ctx.verify_mode = _CLIENT_AUTH_MODES[self.client_auth_type]
        if self.client_ca_file is not None:
            try:
                ctx.load_verify_locations(cafile=self.client_ca_file)
            except (ssl.SSLError, OSError) as exc:
                raise WebConfigError(
                    f"cannot load client CA file {self.client_ca_file!r}: {exc}"
                ) from exc
        return ctx


def load_web_config(path: str) -> WebConfig:
    """Parse and validate a web config file; every problem is reported in one WebConfigError
    whose message is a single line."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except OSError as exc:
        raise WebConfigError(f"web config {path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise WebConfigError(f"web config {path}: invalid YAML: {_one_line(exc)}") from exc

    problems: list[str] = []
    if raw is None:  # an empty file is valid and means plain HTTP without auth
        raw = {}
    if not isinstance(raw, dict):
        raise WebConfigError(f"web config {path}: top level must be a mapping, got {_kind(raw)}")
    _check_keys(raw, _TOP_KEYS, _TOP_UNSUPPORTED, "", problems)

    base_dir = os.path.dirname(os.path.abspath(path))
    tls = _parse_tls(raw.get("tls_server_config"), base_dir, problems)
    users = _parse_users(raw.get("basic_auth_users"), problems)

    config = WebConfig(basic_auth_users=MappingProxyType(users), **tls)
    if not problems:
        # Loading the chain now turns "key does not match certificate" into a start-up error
        # instead of a failure on the first scrape.
        try:
            config.ssl_context()
        except WebConfigError as exc:
            problems.append(str(exc))
    if problems:
        # One line: the daemon prints it as its only output before exiting 2, and a single
        # line is what survives `kubectl logs --tail` and journald summaries intact.
        listing = "; ".join(_one_line(p) for p in problems)
        raise WebConfigError(f"web config {path}: {len(problems)} problem(s): {listing}")
    return config


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _check_keys(
    section: Mapping[Any, Any],
    known: frozenset[str],
    unsupported: frozenset[str],
    prefix: str,
    problems: list[str],
) -> None:
    for key in sorted(section, key=str):
        if key in known:
            continue
        if key in unsupported:
            problems.append(f"{prefix}{key}: not supported by this exporter")
        else:
            problems.append(f"{prefix}{key}: unknown key (allowed: {', '.join(sorted(known))})")


def _parse_tls(section: object, base_dir: str, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if section is None or section == {}:
        return out
    if not isinstance(section, dict):
        problems.append(f"tls_server_config: must be a mapping, got {_kind(section)}")
        return out
    p = "tls_server_config."
    _check_keys(section, _TLS_KEYS, _TLS_UNSUPPORTED, p, problems)

    def file_key(key: str, required: bool) -> str | None:
        value = section.get(key)
        if value is None or value == "":
            if required:
                problems.append(f"{p}{key}: required when tls_server_config is set")
            return None
        if not isinstance(value, str):
            problems.append(f"{p}{key}: must be a file path, got {_kind(value)}")
            return None
        # exporter-toolkit resolves relative paths against the config file's directory.
        resolved = os.path.join(base_dir, value)
        if not os.path.isfile(resolved):
            problems.append(f"{p}{key}: file not found: {resolved}")
        elif not os.access(resolved, os.R_OK):
            problems.append(f"{p}{key}: file not readable: {resolved}")
        return resolved

    out["tls_cert_file"] = file_key("cert_file", True)
    out["tls_key_file"] = file_key("key_file", True)
    out["client_ca_file"] = ca = file_key("client_ca_file", False)

    auth = section.get("client_auth_type") or "NoClientCert"
    if auth in _UNSUPPORTED_CLIENT_AUTH:
        problems.append(
            f"{p}client_auth_type: {auth} (a client certificate without verification) is not "
            "supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        )
    elif auth not in _CLIENT_AUTH_MODES:
        problems.append(
            f"{p}client_auth_type: unknown value {auth!r} "
            f"(allowed: {', '.join(_CLIENT_AUTH_MODES)})"
        )
    elif auth == "NoClientCert" and ca is not None:
        problems.append(f"{p}client_ca_file is set but client_auth_type is NoClientCert")
    elif auth != "NoClientCert" and ca is None:
        problems.append(f"{p}client_auth_type {auth} needs client_ca_file")
    out["client_auth_type"] = auth if isinstance(auth, str) else str(auth)

    min_version = section.get("min_version")
    if min_version is not None and min_version not in _TLS_VERSIONS:
        problems.append(
            f"{p}min_version: unknown value {min_version!r} (allowed: {', '.join(_TLS_VERSIONS)})"
        )
        min_version = None
    out["min_version"] = min_version
    return out


def _parse_users(section: object, problems: list[str]) -> dict[str, str]:
    users: dict[str, str] = {}
    if section is None:
        return users
    if not isinstance(section, dict):
        problems.append(
            f"basic_auth_users: must be a mapping of user to bcrypt hash, got {_kind(section)}"
        )
        return users
    for user, hashed in section.items():
        if not isinstance(user, str) or not user:
            problems.append(f"basic_auth_users: user name {user!r} must be a non-empty string")
            continue
        if ":" in user:  # RFC 7617: the user-id cannot contain a colon
            problems.append(f"basic_auth_users.{user}: user name must not contain ':'")
            continue
        if not isinstance(hashed, str) or not _BCRYPT_RE.match(hashed):
            # The value itself is never echoed: it may be a plaintext password pasted by mistake.
            problems.append(
                f"basic_auth_users.{user}: value is not a bcrypt hash "
                "(expected $2a$/$2b$/$2y$..., e.g. from `htpasswd -nBC 10 \"\" | tr -d ':'`)"
            )
            continue
        users[user] = hashed
    return users


class BasicAuthenticator:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes.

    bcrypt is deliberately slow (~100 ms at cost 10), and Prometheus sends the same header on
    every scrape, so successful checks are remembered keyed by the SHA-256 of the header; the
    plaintext credentials are never stored. Failures are not cached so guessing stays expensive.
    Thread-safe, so callers may run cache misses in an executor.
    """

    _MAX_CACHE = 1024

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users: Mapping[str, bytes] = MappingProxyType(
            {u: h.encode("ascii") for u, h in users.items()}
        )
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()
        # Unknown users still cost one bcrypt check so response time does not reveal which
        # user names exist; the dummy hash uses the same cost as a configured one.
        cost = next(iter(self._users.values()), b"$2b$10$").split(b"$")[2]
        self._dummy = bcrypt.hashpw(b"dummy", b"$2b$" + cost + b"$" + b"." * 22)

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def is_cached(self, authorization_header: str | None) -> bool:
        """True when this exact header already passed: lets async callers skip the executor."""
        if not authorization_header:
            return False
        key = hashlib.sha256(authorization_header.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            return key in self._ok

    def check(self, authorization_header: str | None) -> bool:
        if not authorization_header:
            return False
        key = hashlib.sha256(authorization_header.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            if key in self._ok:
                return True
        creds = _parse_basic(authorization_header)
        if creds is None:
            return False
        user, password = creds
        hashed = self._users.get(user)
        ok = bcrypt.checkpw(password, hashed if hashed is not None else self._dummy)
        if not ok or hashed is None:
            return False
        with self._lock:
            if len(self._ok) >= self._MAX_CACHE:
                self._ok.clear()  # crude bound; a legitimate client just pays one bcrypt again
            self._ok.add(key)
        return True


def _parse_basic(header: str) -> tuple[str, bytes] | None:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user_bytes, sep, password = decoded.partition(b":")
    if not sep:
        return None
    try:
        user = user_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # The bcrypt algorithm only uses the first 72 bytes (htpasswd hashes longer passwords that
    # way) and the bcrypt package >= 5 raises on longer input instead of truncating.
    return user, password[:72]


def server_options(path: str | None) -> tuple[ssl.SSLContext | None, BasicAuthenticator | None]:
    """What the HTTP server needs of --web-config-file: its TLS context and authenticator."""
    if not path:
        return None, None
    wc = load_web_config(path)
    auth = BasicAuthenticator(wc.basic_auth_users) if wc.basic_auth_users else None
    return wc.ssl_context(), auth
