"""Reads and validates the ``surveysphere`` Airflow connection.

Every rule lives here, so that a bad value fails before any request is made, with an error that names
the connection id and the field.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow_provider_surveysphere.exceptions import SurveySphereConfigError
from airflow_provider_surveysphere.redaction import forget_locals

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://app.surveysphere.co.uk"
DEFAULT_TOKEN_PATH = "/connect/token"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_TOKEN_REFRESH_LEEWAY = 60.0

#: Keys the connection's Extra may hold; anything else is refused so that a typo does not pass silently.
EXTRA_FIELDS = ("token_url", "scope", "timeout", "verify", "max_retries", "token_refresh_leeway")

#: The words ``verify`` accepts (any case); anything else must be an existing CA bundle file or directory.
VERIFY_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}

_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_absolute_url(text: str) -> bool:
    """Tell whether ``text`` starts with ``scheme://`` or ``//`` (a ``://`` later, in a query, does not count)."""
    return bool(_ABSOLUTE_URL.match(text)) or text.startswith("//")


def is_loopback(hostname: str) -> bool:
    """Tell whether ``hostname`` names this machine (plain HTTP is only allowed there)."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``, lower-cased, with default ports left out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("https", 443), ("http", 80)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class SurveySphereConnectionSettings:
    """The validated settings of one ``surveysphere`` connection.

    :param conn_id: the Airflow connection id
    :param base_url: scheme and host of the API, without a trailing slash
    :param client_id: the OAuth client id (the connection's login)
    :param client_secret: the OAuth client secret (the connection's password)
    :param token_url: absolute URL of the token endpoint
    :param scope: optional OAuth scope sent with the token request
    :param timeout: seconds to wait for the server on every request
    :param verify: TLS verification: True, False or a CA bundle path; None when the connection left it unset
    :param max_retries: how many times a transient failure is retried
    :param token_refresh_leeway: renew the token when less than this many seconds remain
    """

    conn_id: str
    base_url: str
    client_id: str
    client_secret: str
    token_url: str
    scope: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    token_refresh_leeway: float = DEFAULT_TOKEN_REFRESH_LEEWAY

    def __repr__(self) -> str:  # the secret must not reach a log through a repr
        return (
            f"SurveySphereConnectionSettings(conn_id={self.conn_id!r}, base_url={self.base_url!r}, "
            f"client_id={self.client_id!r}, token_url={self.token_url!r})"
        )

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the API: the only place a token may be sent."""
        return origin_of(self.base_url)

    @classmethod
    def from_connection(cls, conn: Connection) -> SurveySphereConnectionSettings:
        """Validate an Airflow connection.

        :param conn: the connection, from the UI, an ``AIRFLOW_CONN_*`` variable or a secrets backend
        :raises SurveySphereConfigError: naming the connection id and the field at fault; it leaves without
            the connection in its frames' local variables (the repr of Airflow 3.1+'s shows the password)
        """
        try:
            return cls._validated(conn)
        except Exception as error:
            del conn
            forget_locals(error)
            raise

    @classmethod
    def _validated(cls, conn: Connection) -> SurveySphereConnectionSettings:
        conn_id = conn.conn_id or "<unnamed>"
        extra = _extra_of(conn, conn_id)
        base_url = _base_url(conn_id, conn.host, conn.port)
        schema = (conn.schema or "").strip()
        if schema:
            raise SurveySphereConfigError(
                conn_id,
                "schema",
                f"{schema!r} is not used by a SurveySphere connection; put the API's base path in host "
                f"(https://host/{schema.strip('/')}) or leave schema empty",
            )
        client_id = (conn.login or "").strip()
        if not client_id:
            raise SurveySphereConfigError(conn_id, "login (Client ID)", "is empty; set the client id")
        if not (conn.password or "").strip():
            raise SurveySphereConfigError(conn_id, "password (Client Secret)", "is empty; set the client secret")
        return cls(
            conn_id=conn_id,
            base_url=base_url,
            client_id=client_id,
            client_secret=conn.password or "",
            token_url=_token_url(conn_id, base_url, extra.get("token_url")),
            scope=(str(extra["scope"]).strip() or None) if extra.get("scope") not in (None, "") else None,
            timeout=_seconds(conn_id, "timeout", extra.get("timeout"), DEFAULT_TIMEOUT, zero_allowed=False),
            verify=_verify(conn_id, extra.get("verify")),
            max_retries=_retries(conn_id, extra.get("max_retries")),
            token_refresh_leeway=_seconds(
                conn_id,
                "token_refresh_leeway",
                extra.get("token_refresh_leeway"),
                DEFAULT_TOKEN_REFRESH_LEEWAY,
                zero_allowed=True,
            ),
        )


def _extra_of(conn: Connection, conn_id: str) -> dict[str, Any]:
    raw = conn.extra
    if raw in (None, ""):
        return {}
    try:
        extra = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (ValueError, TypeError):
        raise SurveySphereConfigError(conn_id, "extra", "is not a JSON object") from None
    if not isinstance(extra, dict):
        raise SurveySphereConfigError(conn_id, "extra", "is not a JSON object")
    # Airflow 2.11's form may store custom fields as extra__surveysphere__<name>.
    extra = {key.removeprefix("extra__surveysphere__"): value for key, value in extra.items()}
    unknown = sorted(set(extra) - set(EXTRA_FIELDS))
    if unknown:
        raise SurveySphereConfigError(
            conn_id, "extra", f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(EXTRA_FIELDS)}"
        )
    return {key: value for key, value in extra.items() if value not in (None, "")}


def _without_credentials(text: str) -> str:
    """``text`` with any ``user:password@`` removed, for messages: a credential never reaches one."""
    return re.sub(r"(^|//)[^/@?#]*@", r"\1", text)


def _base_url(conn_id: str, host: str | None, port: int | None) -> str:
    field = "host (Base URL)"
    host = (host or "").strip() or DEFAULT_BASE_URL
    try:  # a bare IPv6 address, as Airflow parses it out of a URI such as surveysphere://id:pw@[::1]:8443/
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    url = host if is_absolute_url(host) else f"https://{host}"
    shown = _without_credentials(host)
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise SurveySphereConfigError(
            conn_id, field, "holds credentials (user:password@); put the client id in login and the secret in password"
        )
    try:
        hostname, url_port = parts.hostname, parts.port
    except ValueError:
        raise SurveySphereConfigError(conn_id, field, f"{shown!r} has an invalid host or port") from None
    if parts.scheme.lower() not in ("http", "https") or not hostname or " " in url:
        raise SurveySphereConfigError(conn_id, field, f"{shown!r} is not an http(s) URL such as {DEFAULT_BASE_URL}")
    if parts.query or parts.fragment:
        raise SurveySphereConfigError(
            conn_id, field, f"{shown!r} has a query or fragment; give only scheme, host and path"
        )
    if parts.scheme.lower() == "http" and not is_loopback(hostname):
        raise SurveySphereConfigError(
            conn_id,
            field,
            f"plain http:// is only allowed to a loopback host (a local sandbox); use https:// for {hostname}",
        )
    if url_port == 0:
        raise SurveySphereConfigError(conn_id, field, f"{shown!r} has port 0, which no server listens on")
    if port and not 0 < port <= 65535:
        raise SurveySphereConfigError(
            conn_id, "port", f"{port} is not a TCP port (1-65535); leave it empty to use the Base URL's"
        )
    netloc = parts.netloc.rstrip(":")  # "host:" is a URL without a port, not one to append a second colon to
    # The Port field fills in a Base URL without a port; a port in the Base URL wins over it, so that
    # changing the Base URL alone (the field the user reads) never breaks every task until both agree.
    if port:
        if url_port is None:
            netloc = f"{netloc}:{port}"
        elif url_port != port:
            log.warning(
                "SurveySphere connection %r: Port %d differs from the port %d in the Base URL %r; using %d "
                "(the Base URL's port wins; clear the Port field or make it equal)",
                conn_id, port, url_port, shown, url_port,
            )
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{netloc}{path}"


def _token_url(conn_id: str, base_url: str, value: Any) -> str:
    if value is None:
        return base_url + DEFAULT_TOKEN_PATH
    text = str(value).strip()
    token_url = text if is_absolute_url(text) else urljoin(base_url + "/", text)
    parts = urlsplit(token_url)
    if parts.username is not None or parts.password is not None:
        raise SurveySphereConfigError(
            conn_id, "extra.token_url", "holds credentials (user:password@); the client credentials go in the form"
        )
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise SurveySphereConfigError(conn_id, "extra.token_url", f"{text!r} has an invalid port") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise SurveySphereConfigError(conn_id, "extra.token_url", f"{text!r} is not a URL or a path")
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        raise SurveySphereConfigError(
            conn_id, "extra.token_url", "plain http:// is only allowed to a loopback host; use https://"
        )
    return token_url


def _seconds(conn_id: str, field: str, value: Any, default: float, *, zero_allowed: bool) -> float:
    """A number of seconds from the extra: finite, positive (or zero when ``zero_allowed``)."""
    if value is None:
        return default
    problem = f"{value!r} is not a number of seconds"
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        raise SurveySphereConfigError(conn_id, f"extra.{field}", problem) from None
    if not math.isfinite(number):
        raise SurveySphereConfigError(conn_id, f"extra.{field}", problem)
    if number < 0 or (number == 0 and not zero_allowed):
        bound = "must not be negative" if zero_allowed else "must be greater than 0"
        raise SurveySphereConfigError(conn_id, f"extra.{field}", f"{value!r} {bound}")
    return number


def _retries(conn_id: str, value: Any) -> int:
    if value is None:
        return DEFAULT_MAX_RETRIES
    problem = f"{value!r} is not a whole number"
    if isinstance(value, bool):
        raise SurveySphereConfigError(conn_id, "extra.max_retries", problem)
    try:
        number = float(str(value).strip())  # "2", 2, 2.0 and "2.0" are all two retries
    except ValueError:
        raise SurveySphereConfigError(conn_id, "extra.max_retries", problem) from None
    if not math.isfinite(number) or not number.is_integer():
        raise SurveySphereConfigError(conn_id, "extra.max_retries", problem)
    retries = int(number)
    if retries < 0:
        raise SurveySphereConfigError(conn_id, "extra.max_retries", f"{value!r} must not be negative")
    return retries


def _verify(conn_id: str, value: Any) -> bool | str | None:
    """True, False, or the path of an existing CA bundle file or directory (what requests' ``verify`` takes).

    Checked here rather than left to requests, which would report a mistyped word as a missing CA
    bundle only when the first request is sent.
    """
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in VERIFY_WORDS:
        return VERIFY_WORDS[text.lower()]
    path = os.path.expanduser(text)
    if text and os.path.exists(path):
        return path
    raise SurveySphereConfigError(
        conn_id,
        "extra.verify",
        f"{text!r} is neither true/false (yes/no, on/off, 1/0) nor an existing CA bundle file or directory",
    )
