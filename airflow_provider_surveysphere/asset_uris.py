"""The ``surveysphere`` Asset URI scheme, and the percent-encoding every lineage name of the provider uses.

Airflow's providers manager registers the two functions named in provider info's ``asset-uris`` (and
``dataset-uris`` on Airflow 2.11): :func:`normalize_source_uri` checks and normalizes every
``surveysphere://`` Asset URI, and :func:`convert_source_asset_to_openlineage` is how the OpenLineage
provider names such an Asset, so a hook call from a user's own task reaches OpenLineage under the same
namespace and name as the operator's events.

Names are percent-encoded as RFC 3986 says for a URI path: a ``#``, ``?``, ``%``, space or non-ASCII
character of a file path is escaped (UTF-8), so the URI cannot end early at a ``#`` or ``?`` and
:func:`unquote_path` gives back the real path. Characters a path may hold as they are (``/``, ``:``, ``@``,
``=``, ``+``, ``,`` and the other sub-delimiters) stay readable.

Only the standard library is imported at module level: the providers manager imports this module while
Airflow itself is starting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset

SOURCE_SCHEME = "surveysphere"
#: What RFC 3986 allows as it is in a path segment besides the unreserved characters (``pchar``), and ``/``.
PATH_SAFE = "/:@!$&'()*+,;="


def quote_path(path: str) -> str:
    """Percent-encode a real path (a file path, an object key) for a URI; :func:`unquote_path` reverses it.

    :param path: the path as the file system or the object store spells it
    """
    return quote(path, safe=PATH_SAFE)


def unquote_path(path: str) -> str:
    """The real path of a percent-encoded URI path (or OpenLineage name).

    :param path: the path part of a URI made by :func:`quote_path`
    """
    return unquote(path)


def requote_url_path(path: str) -> str:
    """Escape what a URL path may not hold, keeping its escapes (``%2F`` stays ``%2F``), as requests does.

    A URL's path is already in URI form: a ``%`` there starts an escape and is not encoded again, unless
    no two hex digits follow it. A path split out of a URL holds no ``#`` or ``?``.

    :param path: the path of a URL, as sent
    """
    from requests.utils import requote_uri

    return requote_uri(path)


def source_path(path: str) -> str:
    """The name of an endpoint: its URL path, escaped, one leading slash, no trailing one."""
    return "/" + requote_url_path(path).strip("/")


def normalize_source_uri(parts: SplitResult) -> SplitResult:
    """Airflow's URI handler for ``surveysphere://host[:port]/path`` Assets (provider info ``asset-uris``).

    The host is lower-cased; the path is escaped as :func:`source_path` does; the query string and the
    fragment are dropped (a query is never part of the name: it may hold filters and keys).

    :param parts: the URI, split, as Airflow passes it
    :raises ValueError: the URI has no host, or a port that is not a number
    """
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"{SOURCE_SCHEME}:// Asset URI {urlunsplit_safe(parts)!r} has an invalid port") from None
    if not host:
        raise ValueError(
            f"{SOURCE_SCHEME}:// Asset URI {urlunsplit_safe(parts)!r} has no host; "
            f"write {SOURCE_SCHEME}://<host>[:<port>]/<path>"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return parts._replace(scheme=SOURCE_SCHEME, netloc=netloc, path=source_path(parts.path), query="", fragment="")


def urlunsplit_safe(parts: SplitResult) -> str:
    """The URI of ``parts`` for a message, without user info (an Asset URI should hold none)."""
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{parts.path}"


def convert_source_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Dataset:
    """The OpenLineage dataset of a ``surveysphere://`` Asset (provider info's ``to_openlineage_converter``).

    Namespace ``surveysphere://host[:port]`` and name the endpoint's path: what the operator's own
    OpenLineage events say (:func:`airflow_provider_surveysphere.lineage.operator_lineage`).

    :param asset: the Asset (a Dataset on Airflow 2.11), its URI already normalized by Airflow
    :param lineage_context: unused; the OpenLineage provider passes it to every converter
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = normalize_source_uri(urlsplit(asset.uri))
    return Dataset(namespace=f"{SOURCE_SCHEME}://{parts.netloc}", name=parts.path)
