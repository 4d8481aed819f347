"""STS for the fake: GetCallerIdentity and AssumeRole (query protocol, XML answers).

The exporter resolves its account id with GetCallerIdentity and reaches other accounts with
AssumeRole against the same endpoint, so the fake answers both. Assumed-role credentials
carry the account in the access key id (ASIAFAKE<account>), which lets fault rules be
scoped to one account: see `caller()`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_ROLE_RE = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(.+)")
_ASSUMED_KEY_RE = re.compile(r"ASIAFAKE(\d{12})")
_CRED_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/")
STS_OPERATIONS = ("GetCallerIdentity", "AssumeRole")


def caller(authorization: str, base_account: str, default_region: str) -> tuple[str, str]:
    """(region, account id) of a SigV4-signed request: the region from the credential
    scope, the account from an access key this fake issued by AssumeRole (else the base)."""
    m = _CRED_RE.search(authorization)
    if m is None:
        return default_region, base_account
    key = _ASSUMED_KEY_RE.fullmatch(m.group(1))
    return m.group(2), key.group(1) if key else base_account


def _envelope(action: str, result: str, request_id: str) -> bytes:
    return (
        f'<{action}Response xmlns="{_NS}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    ).encode()


def sts_error(code: str, message: str, request_id: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{escape(code)}'
        f"</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def sts_answer(body: bytes, account: str, request_id: str) -> tuple[str, int, bytes]:
    """(operation, HTTP status, XML body) for an STS query-protocol request body."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    action = form.get("Action", "")
    if action == "GetCallerIdentity":
        result = (
            f"<Arn>arn:aws:iam::{account}:user/fake-exporter</Arn>"
            f"<UserId>AIDAFAKE{account}</UserId><Account>{account}</Account>"
        )
        return action, 200, _envelope(action, result, request_id)
    if action == "AssumeRole":
        m = _ROLE_RE.fullmatch(form.get("RoleArn", ""))
        if m is None:
            return (
                action,
                400,
                sts_error("ValidationError", "RoleArn is not a role ARN", request_id),
            )
        role_account, role = m.group(1), escape(m.group(2))
        session = escape(form.get("RoleSessionName", "fake"))
        result = (
            f"<AssumedRoleUser><Arn>arn:aws:sts::{role_account}:assumed-role/{role}/{session}"
            f"</Arn><AssumedRoleId>AROAFAKE{role_account}:{session}</AssumedRoleId>"
            f"</AssumedRoleUser><Credentials><AccessKeyId>ASIAFAKE{role_account}</AccessKeyId>"
            f"<SecretAccessKey>fake-secret</SecretAccessKey><SessionToken>fake-token"
            f"</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
        )
        return action, 200, _envelope(action, result, request_id)
    return (
        action or "Unknown",
        400,
        sts_error("InvalidAction", f"Unknown action {action!r}", request_id),
    )
