"""Pagination: the strategies that say how to ask for the next page, and the loop that reads every page.

This module gathers the public names of the paging, wherever they live: the strategies
(:mod:`~airflow_provider_surveysphere.strategies`), the page types (:mod:`~airflow_provider_surveysphere.page`)
and the loop (:class:`~airflow_provider_surveysphere.paging.Paginator`). It imports them and nothing imports it
back, so the modules of the paging import one way.
"""

from __future__ import annotations

from airflow_provider_surveysphere.page import Page, PageRequest, PageSender, dig
from airflow_provider_surveysphere.paging import Paginator
from airflow_provider_surveysphere.strategies import (
    CallablePagination,
    CursorPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
    PaginationLike,
    SinglePage,
    as_pagination,
)

__all__ = [
    "CallablePagination",
    "CursorPagination",
    "LinkHeaderPagination",
    "NextLinkPagination",
    "OffsetPagination",
    "Page",
    "PageNumberPagination",
    "PageRequest",
    "PageSender",
    "Pagination",
    "PaginationLike",
    "Paginator",
    "SinglePage",
    "as_pagination",
    "dig",
]
