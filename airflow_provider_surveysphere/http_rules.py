"""The rules both HTTP clients follow: the hook's requests session and the triggers' httpx client.

Where an endpoint leads (how it joins the base URL, which origin may receive the token) and how TLS is
verified (the connection's ``verify``, else ``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``, else the default
CA bundle) are decided here once, so that poke and deferrable modes cannot drift apart: requests reads those
variables itself, httpx ignores them, and each client used to resolve endpoints with code of its own.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from requests.utils import DEFAULT_CA_BUNDLE_PATH

from airflow_provider_surveysphere.connection import is_absolute_url, origin_of
from airflow_provider_surveysphere.exceptions import (
    SurveySphereArgumentError,
    SurveySphereConfigError,
    SurveySphereForeignHostError,
)

if TYPE_CHECKING:
    from airflow_provider_surveysphere.connection import SurveySphereConnectionSettings

#: The environment variables that name a CA bundle when the connection leaves ``verify`` unset, in the order
#: requests reads them (an empty value is skipped, as requests skips it).
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def endpoint_url(settings: SurveySphereConnectionSettings, endpoint: str) -> str:
    """Resolve ``endpoint`` against the base URL; refuse a URL on another origin.

    Only ``scheme://...`` or ``//...`` at the start makes an endpoint absolute: a ``://`` later (a URL in the
    query) leaves it relative. A relative endpoint joins the base URL's path (``/api`` + ``v1/x``).

    :param settings: the connection
    :param endpoint: a path relative to the base URL, or an absolute URL on the connection's own origin
    :raises SurveySphereArgumentError: the endpoint is empty
    :raises SurveySphereForeignHostError: the URL is on another origin (the token would go there)
    """
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise SurveySphereArgumentError("endpoint", f"{endpoint!r} is empty (did its template render to nothing?)")
    url = endpoint if is_absolute_url(endpoint) else urljoin(settings.base_url + "/", endpoint.lstrip("/"))
    check_origin(url, settings.origin)
    return url


def check_origin(url: str, origin: str) -> None:
    """Refuse ``url`` unless it is on ``origin``, the only place the token may be sent.

    The refusal names the other origin only: never the URL's user info (a password), path or query (a key).

    :raises SurveySphereForeignHostError: naming the other origin
    :raises SurveySphereArgumentError: the URL's port is not a number from 0 to 65535
    """
    if "\\" in urlsplit(url).netloc:
        # urllib and httpx read "https://a\\@b/" as host b, requests (as browsers do) as host a: refuse it,
        # so that no client sends anything where another check did not look.
        raise SurveySphereForeignHostError("a URL whose host part holds a backslash", origin)
    try:
        url_origin = origin_of(url)
    except ValueError:  # urllib's words for a bad port ("Port out of range 0-65535")
        raise SurveySphereArgumentError(
            "endpoint", f"{origin_of_host(url)} has an invalid port; give a path, or a URL on {origin}"
        ) from None
    if url_origin != origin:
        shown = url_origin if urlsplit(url).hostname else f"a {urlsplit(url).scheme or 'relative'}: URL without a host"
        raise SurveySphereForeignHostError(shown, origin)


def origin_of_host(url: str) -> str:
    """``scheme://host`` of ``url`` for a message: no user info, port, path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.hostname or ''}"


@dataclass(frozen=True)
class TLSVerification:
    """How a connection's server certificates are verified, and where that choice came from.

    :param verify: True (the default CA bundle, certifi's, as requests uses), False (not verified), or the path
        of a CA bundle file or directory
    :param field: the setting that chose it, named when its CA bundle cannot be read: ``extra.verify``,
        ``verify (REQUESTS_CA_BUNDLE)``, ``verify (CURL_CA_BUNDLE)``, or ``verify`` for the default
    """

    verify: bool | str
    field: str


def tls_verification(
    settings: SurveySphereConnectionSettings, environ: Mapping[str, str] | None = None
) -> TLSVerification:
    """The connection's ``verify`` when set; else the first CA bundle variable set; else the default bundle.

    :param settings: the connection
    :param environ: the environment (``os.environ`` unless given)
    """
    if settings.verify is not None:
        return TLSVerification(settings.verify, "extra.verify")
    environ = os.environ if environ is None else environ
    for name in CA_BUNDLE_VARIABLES:
        if environ.get(name):
            return TLSVerification(environ[name], f"verify ({name})")
    return TLSVerification(True, "verify")


def ssl_context(verification: TLSVerification, conn_id: str) -> ssl.SSLContext | bool:
    """What httpx's ``verify`` takes for ``verification``: False, or a context trusting exactly that CA bundle.

    A context rather than a path: httpx 0.28 deprecates a path, and with ``verify=True`` it would read
    ``SSL_CERT_FILE`` instead of the bundle requests uses. Loading a bundle reads a file: call it off the
    event loop.

    :raises SurveySphereConfigError: the CA bundle cannot be read, naming the setting that chose it
    """
    if verification.verify is False:
        return False
    path = DEFAULT_CA_BUNDLE_PATH if verification.verify is True else str(verification.verify)
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError is one: a file that holds no certificate
        raise SurveySphereConfigError(
            conn_id, verification.field, f"the CA bundle {path!r} cannot be read ({type(exc).__name__})"
        ) from None
