"""Bearer authentication for requests: attach the cached token, renew it once after a 401.

Written as a ``requests.auth.AuthBase`` the way requests' own ``HTTPDigestAuth`` re-sends after a
401 from a response hook, so that every caller of the session gets the renewal without doing anything.
No OAuth library does the 401 re-send, and none restricts the token to one origin, hence this class.

Like ``HTTPDigestAuth``, the auth remembers where a file body started and rewinds it before the
re-send, so the re-sent request carries exactly the original body. A body that cannot be rewound (a
generator, a non-seekable stream) is not re-sent: its first bytes are gone, and sending the rest or
nothing would be worse than failing, so the 401 surfaces as an error that says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from airflow_provider_surveysphere import stopping
from airflow_provider_surveysphere.connection import origin_of
from airflow_provider_surveysphere.exceptions import SurveySphereAPIError, SurveySphereForeignHostError

log = logging.getLogger(__name__)

_RESENT = "_surveysphere_resent"
#: Bodies sent as they are, however often: requests encodes a form dict, ``json=`` and ``files=`` to these.
_REPLAYABLE = (bytes, str, bytearray, memoryview)
_BODY_START = "_surveysphere_body_start"


def _body_start(body: Any) -> int | None:
    """Where a file body starts (so that it can be rewound), or None for a body that cannot be."""
    seekable = getattr(body, "seekable", None)
    if callable(seekable) and not seekable():
        return None
    try:
        position = body.tell()
    except (AttributeError, OSError, ValueError):
        return None
    return position if isinstance(position, int) else None


def _bearer_token(request: requests.PreparedRequest) -> str:
    """The token a request was sent with."""
    authorization = request.headers.get("Authorization") or ""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    return authorization.removeprefix("Bearer ")


def _unreplayable(request: requests.PreparedRequest) -> str | None:
    """Why ``request``'s body cannot be sent again (None when it can), rewinding a file body."""
    body = request.body
    if body is None or isinstance(body, _REPLAYABLE):
        return None
    start = getattr(request, _BODY_START, None)
    if start is None:
        return f"its body ({type(body).__name__}) cannot be rewound"
    try:
        body.seek(start)  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):
        return f"its body ({type(body).__name__}) cannot be rewound"
    return None


class SurveySphereBearerAuth(AuthBase):
    """Sends ``Authorization: Bearer <token>`` to one origin only.

    :param origin: ``scheme://host[:port]`` that may receive the token
    :param get_token: returns a fresh token (from the cache, fetching when needed)
    :param invalidate: drops a token the server refused, so that ``get_token`` fetches a new one
    """

    def __init__(self, origin: str, get_token: Callable[[], str], invalidate: Callable[[str], None]) -> None:
        self.origin = origin
        self._root = origin + "/"
        self.get_token = get_token
        self.invalidate = invalidate

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        # A URL that starts with the origin and a slash is on it (the authority ends at the first "/"): the
        # common case needs no parsing. Anything else is parsed and compared.
        if not url.startswith(self._root) and (url_origin := origin_of(url)) != self.origin:
            raise SurveySphereForeignHostError(url_origin, self.origin)
        request.headers["Authorization"] = f"Bearer {self.get_token()}"
        if request.body is not None and not isinstance(request.body, _REPLAYABLE):
            setattr(request, _BODY_START, _body_start(request.body))
        request.register_hook("response", self._resend_after_401)
        return request

    def _resend_after_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """On a 401 from our origin, drop the refused token, fetch a new one and re-send once.

        :raises SurveySphereAPIError: the request's body cannot be sent again (transient: the task's
            next try sends a fresh body with a new token)
        """
        request = response.request
        if response.status_code != 401 or getattr(request, _RESENT, False):
            return response
        if origin_of(response.url) != self.origin:
            return response  # a redirect led elsewhere: the token is never sent there
        method = request.method or "?"
        path = urlsplit(request.url or "").path or "/"
        # No token in a local variable of this frame, which errors pass through: a traceback showing locals
        # (Airflow 3.0's dags test, error trackers) would print it.
        self.invalidate(_bearer_token(request))
        response.content  # noqa: B018 - drain the body so that the connection can be reused
        response.close()
        stopping.check_current()  # the paging stopped: neither a new token nor the re-send is wanted
        problem = _unreplayable(request)
        if problem is not None:
            raise SurveySphereAPIError(
                method,
                path,
                401,
                f"the token was refused and the request was not re-sent with a new one: {problem} "
                "(pass bytes, str, a dict or a seekable file to let the hook re-send it)",
            )
        log.info("SurveySphere answered 401 to %s %s; renewing the token and re-sending once", method, path)
        # A redirect after the re-send is built by requests from the original request's headers.
        request.headers["Authorization"] = f"Bearer {self.get_token()}"
        stopping.check_current()  # the paging stopped while the new token was fetched
        retry = request.copy()
        setattr(retry, _RESENT, True)
        second: requests.Response = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second
