"""The error a record raises when it cannot become a row of a CSV or Parquet file."""

from __future__ import annotations

from airflow_provider_surveysphere.exceptions import SurveySpherePermanentError


class SurveySphereFormatError(SurveySpherePermanentError, ValueError):
    """A record does not fit the export's columns (not an object, a name collision, a new field with
    ``on_new_field="error"``, a value outside its declared type).

    Permanent: the same records fail the same way on every retry.

    :param where: which record or page (``record 3 of page 2``)
    :param problem: what is wrong, naming the column and, where it helps, the value
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        super().__init__(f"{where}: {problem}")


def record_position(page: int, index: int, before: int) -> str:
    """``record 3 of page 2 (record 1003 of the export)``; every number 1-based.

    :param page: the page's number in the export
    :param index: the record's 0-based index on its page
    :param before: records of the export before this page
    """
    return f"record {index + 1} of page {page} (record {before + index + 1} of the export)"
