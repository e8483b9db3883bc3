"""Bearer authentication for requests: attach the cached token, renew it once after a 401.

Written as a ``requests.auth.AuthBase`` the way requests' own ``HTTPDigestAuth`` re-sends after a
401 from a response hook, so that every caller of the session gets the renewal without doing anything.
No OAuth library does the 401 re-send, and none restricts the token to one origin, hence this class.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import requests
from requests.auth import AuthBase

from airflow_provider_surveysphere.connection import origin_of
from airflow_provider_surveysphere.exceptions import SurveySphereForeignHostError

log = logging.getLogger(__name__)

_RESENT = "_surveysphere_resent"


class SurveySphereBearerAuth(AuthBase):
    """Sends ``Authorization: Bearer <token>`` to one origin only.

    :param origin: ``scheme://host[:port]`` that may receive the token
    :param get_token: returns a fresh token (from the cache, fetching when needed)
    :param invalidate: drops a token the server refused, so that ``get_token`` fetches a new one
    """

    def __init__(self, origin: str, get_token: Callable[[], str], invalidate: Callable[[str], None]) -> None:
        self.origin = origin
        self.get_token = get_token
        self.invalidate = invalidate

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url_origin = origin_of(request.url or "")
        if url_origin != self.origin:
            raise SurveySphereForeignHostError(url_origin, self.origin)
        request.headers["Authorization"] = f"Bearer {self.get_token()}"
        request.register_hook("response", self._resend_after_401)
        return request

    def _resend_after_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """On a 401 from our origin, drop the refused token, fetch a new one and re-send once."""
        request = response.request
        if response.status_code != 401 or getattr(request, _RESENT, False):
            return response
        if origin_of(response.url) != self.origin:
            return response  # a redirect led elsewhere: the token is never sent there
        refused = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        log.info("SurveySphere answered 401 to %s %s; renewing the token and re-sending once",
                 request.method, requests.utils.urlparse(request.url).path)
        self.invalidate(refused)
        response.content  # noqa: B018 - drain the body so that the connection can be reused
        response.close()
        retry = request.copy()
        setattr(retry, _RESENT, True)
        retry.headers["Authorization"] = f"Bearer {self.get_token()}"
        second = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second
