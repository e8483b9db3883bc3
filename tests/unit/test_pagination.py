"""Pagination strategies and the Paginator: every record once, one page at a time, no endless loops."""

from __future__ import annotations

import gc
import weakref

import pytest
from responses import matchers

from airflow_provider_surveysphere.exceptions import (
    SurveySphereArgumentError,
    SurveySphereForeignHostError,
    SurveySpherePaginationError,
)
from airflow_provider_surveysphere.pagination import (
    CursorPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PageNumberPagination,
)

from tests.unit.conftest import BASE_URL

ITEMS = f"{BASE_URL}/api/items"


def ids(records):
    return [record["id"] for record in records]


def test_page_number_stops_on_a_short_page(hook, mocked_api):
    for page, count in ((1, 2), (2, 2), (3, 1)):
        mocked_api.get(
            ITEMS,
            match=[matchers.query_param_matcher({"page": str(page), "pageSize": "2", "status": "open"})],
            json={"data": [{"id": f"{page}-{i}"} for i in range(count)]},
        )
    paginator = hook.paginate(
        "api/items", params={"status": "open"}, pagination=PageNumberPagination(page_size=2), records_key="data"
    )
    assert ids(paginator) == ["1-0", "1-1", "2-0", "2-1", "3-0"]
    assert (paginator.pages, paginator.records) == (3, 5)


def test_page_number_stops_on_an_empty_page(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": "0", "size": "2"})], json=[{"id": 1}, {"id": 2}])
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": "1", "size": "2"})], json=[])
    pagination = PageNumberPagination(size_param="size", page_size=2, first_page=0)
    assert ids(hook.paginate("api/items", pagination=pagination)) == [1, 2]


def test_page_number_stops_at_the_total_pages_field(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": "1", "pageSize": "1"})],
            json={"result": {"items": [{"id": "a"}]}, "totalPages": 2})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": "2", "pageSize": "1"})],
            json={"result": {"items": [{"id": "b"}]}, "totalPages": 2})
    pagination = PageNumberPagination(page_size=1, total_pages_key="totalPages")
    assert ids(hook.paginate("api/items", pagination=pagination, records_key="result.items")) == ["a", "b"]
    assert len(mocked_api.calls) == 3  # token + 2 pages, no request for page 3


def test_offset_pagination(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"offset": "0", "limit": "2"})], json={"data": [{"id": 1}, {"id": 2}]})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"offset": "2", "limit": "2"})], json={"data": [{"id": 3}]})
    assert ids(hook.paginate("api/items", pagination=OffsetPagination(limit=2), records_key="data")) == [1, 2, 3]


def test_offset_pagination_stops_at_the_total(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"offset": "0", "limit": "2"})],
            json={"data": [{"id": 1}, {"id": 2}], "total": 2})
    assert ids(hook.paginate("api/items", pagination=OffsetPagination(limit=2, total_key="total"), records_key="data")) == [1, 2]


def test_cursor_pagination_reads_the_cursor_from_the_body(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({})], json={"items": [{"id": 1}], "meta": {"next": "c2"}})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"after": "c2"})], json={"items": [{"id": 2}], "meta": {"next": None}})
    pagination = CursorPagination(cursor_param="after", cursor_key="meta.next")
    assert ids(hook.paginate("api/items", pagination=pagination, records_key="items")) == [1, 2]


def test_next_link_absolute_and_relative(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({})], json={"data": [{"id": 1}], "next": f"{ITEMS}?p=2"})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"p": "2"})], json={"data": [{"id": 2}], "next": "items?p=3"})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"p": "3"})], json={"data": [{"id": 3}]})
    assert ids(hook.paginate("api/items", pagination=NextLinkPagination(), records_key="data")) == [1, 2, 3]


def test_next_link_to_another_host_is_refused(hook, mocked_api):
    mocked_api.get(ITEMS, json={"data": [{"id": 1}], "next": "https://collector.evil.example/steal?p=2"})
    records = hook.paginate("api/items", pagination=NextLinkPagination(), records_key="data")
    assert next(records) == {"id": 1}
    with pytest.raises(SurveySphereForeignHostError, match="collector.evil.example"):
        next(records)
    assert all("evil" not in call.request.url for call in mocked_api.calls)


def test_link_header_pagination(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({})], json=[{"id": 1}],
            headers={"Link": f'<{ITEMS}?page=2>; rel="next", <{ITEMS}?page=9>; rel="last"'})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": "2"})], json=[{"id": 2}])
    assert ids(hook.paginate("api/items", pagination=LinkHeaderPagination())) == [1, 2]


def test_a_callable_returns_request_overrides(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"q": "x"})], json={"rows": [{"id": 1}], "more": "t2"})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"q": "x", "token": "t2"})], json={"rows": [{"id": 2}]})

    def next_page(response):
        more = response.json().get("more")
        return {"params": {"token": more}} if more else None

    assert ids(hook.paginate("api/items", params={"q": "x"}, pagination=next_page, records_key="rows")) == [1, 2]


def test_a_callable_with_unknown_override_keys_is_an_error(hook, mocked_api):
    mocked_api.get(ITEMS, json=[{"id": 1}])
    with pytest.raises(SurveySpherePaginationError, match="expected None or a dict"):
        list(hook.paginate("api/items", pagination=lambda response: {"page": 2}))


def test_different_pages_with_equal_bodies_are_read(hook, mocked_api):
    # A Link-header API whose pages repeat the same records: the links tell the pages apart, not the bodies.
    same = [{"kind": "row", "value": 1}]
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({})], json=same,
                   headers={"Link": f'<{ITEMS}?p=2>; rel="next"'})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"p": "2"})], json=same,
                   headers={"Link": f'<{ITEMS}?p=3>; rel="next"'})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"p": "3"})], json=same)
    paginator = hook.paginate("api/items", pagination=LinkHeaderPagination())
    assert list(paginator) == same * 3 and paginator.pages == 3


def test_equal_page_number_pages_are_read_too(hook, mocked_api):
    for page in (1, 2):
        mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": str(page), "pageSize": "2"})],
                       json={"data": [{"v": 0}, {"v": 0}]})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": "3", "pageSize": "2"})], json={"data": []})
    assert len(list(hook.paginate("api/items", pagination=PageNumberPagination(page_size=2), records_key="data"))) == 4


def test_a_server_that_ignores_the_page_parameter_is_stopped_by_max_pages(hook, mocked_api):
    mocked_api.get(ITEMS, json={"data": [{"id": 1}, {"id": 2}]})  # ignores ?page=: full pages forever
    records = hook.paginate("api/items", pagination=PageNumberPagination(page_size=2), records_key="data", max_pages=5)
    with pytest.raises(SurveySpherePaginationError, match="page 5 still names a next page, and max_pages is 5"):
        list(records)
    assert len(mocked_api.calls) == 1 + 5  # the token, then 5 pages: none past the cap


def test_max_pages_has_a_documented_default_and_none_lifts_it(hook):
    import inspect

    from airflow_provider_surveysphere.paging import DEFAULT_MAX_PAGES

    assert DEFAULT_MAX_PAGES == 100_000
    assert inspect.signature(hook.paginate).parameters["max_pages"].default == DEFAULT_MAX_PAGES
    assert hook.paginate("api/items", max_pages=None).max_pages is None
    for bad in (0, -1, 2.5, "10", True):
        with pytest.raises(SurveySphereArgumentError, match="max_pages"):
            hook.paginate("api/items", max_pages=bad)


def test_empty_pages_that_keep_naming_a_next_page_stop(hook, mocked_api):
    # A cursor API that answers empty pages with a new cursor each time, forever.
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({})], json={"data": [{"id": 1}], "next_cursor": "c1"})
    for n in range(1, 30):
        mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"cursor": f"c{n}"})],
                       json={"data": [], "next_cursor": f"c{n + 1}"})
    records = hook.paginate("api/items", pagination=CursorPagination(), records_key="data")
    with pytest.raises(SurveySpherePaginationError, match=r"10 empty pages in a row \(pages 2-11\) each name a next page"):
        list(records)
    assert records.pages == 11 and len(mocked_api.calls) == 1 + 11


def test_a_few_empty_pages_in_between_are_fine(hook, mocked_api):
    bodies = [{"data": [], "next_cursor": "c1"}, {"data": [], "next_cursor": "c2"}, {"data": [{"id": 3}]}]
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({})], json=bodies[0])
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"cursor": "c1"})], json=bodies[1])
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"cursor": "c2"})], json=bodies[2])
    assert ids(hook.paginate("api/items", pagination=CursorPagination(), records_key="data")) == [3]


def test_a_cursor_that_comes_back_is_detected(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({})], json={"data": [{"id": 1}], "next_cursor": "A"})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"cursor": "A"})], json={"data": [{"id": 2}], "next_cursor": "B"})
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"cursor": "B"})], json={"data": [{"id": 3}], "next_cursor": "A"})
    with pytest.raises(SurveySpherePaginationError, match="already read"):
        list(hook.paginate("api/items", pagination=CursorPagination(), records_key="data"))


@pytest.mark.parametrize(
    ("body", "records_key", "message"),
    [
        ({"items": []}, "data", "page 1 of api/items: records_key 'data' not found.*keys: items"),
        ({"data": {"id": 1}}, "data", "holds a dict, not a list"),
        ({"result": {"rows": []}}, "result.items", "no 'items'"),
        ({"data": []}, None, "the body is a dict, not a list of records; set records_key"),
    ],
)
def test_pages_of_the_wrong_shape_name_the_page(hook, mocked_api, body, records_key, message):
    mocked_api.get(ITEMS, json=body)
    with pytest.raises(SurveySpherePaginationError, match=message):
        list(hook.paginate("api/items", records_key=records_key))


def test_a_page_that_is_not_json_is_a_clear_error(hook, mocked_api):
    mocked_api.get(ITEMS, body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(SurveySpherePaginationError, match="page 1 of api/items is not JSON"):
        list(hook.paginate("api/items"))


def test_pages_are_fetched_lazily_and_released_one_at_a_time(hook, mocked_api):
    pages = 50
    for page in range(1, pages + 1):
        count = 10 if page < pages else 3
        mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": str(page), "pageSize": "10"})],
                json={"data": [{"id": f"{page}-{i}", "pad": "x" * 100} for i in range(count)]})
    paginator = hook.paginate("api/items", pagination=PageNumberPagination(page_size=10), records_key="data")
    page_iterator = paginator.iter_pages()
    live_pages: list[weakref.ref] = []
    most_alive = 0
    for number, page in enumerate(page_iterator, start=1):
        assert len(mocked_api.calls) == 1 + number  # nothing is fetched ahead of the consumer
        live_pages.append(weakref.ref(page))  # the mock keeps every response; the Page is ours
        del page
        gc.collect()
        alive = sum(1 for ref in live_pages if ref() is not None)
        most_alive = max(most_alive, alive)
    assert paginator.pages == pages and paginator.records == 493
    assert most_alive <= 1  # earlier pages are freed before later ones arrive


def test_record_iterator_fetches_the_next_page_only_when_needed(hook, mocked_api):
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": "1", "pageSize": "2"})], json=[{"id": 1}, {"id": 2}])
    mocked_api.get(ITEMS, match=[matchers.query_param_matcher({"page": "2", "pageSize": "2"})], json=[{"id": 3}])
    records = hook.paginate("api/items", pagination=PageNumberPagination(page_size=2))
    assert next(records) == {"id": 1} and len(mocked_api.calls) == 2
    assert next(records) == {"id": 2} and len(mocked_api.calls) == 2
    assert next(records) == {"id": 3} and len(mocked_api.calls) == 3


def test_strategy_arguments_are_checked():
    with pytest.raises(ValueError):
        PageNumberPagination(page_size=0)
    with pytest.raises(ValueError):
        OffsetPagination(limit=0)
