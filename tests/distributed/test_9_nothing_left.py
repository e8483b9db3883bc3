"""Last of the suite: nothing the scenarios did leaves an incomplete multipart upload anywhere in the bucket."""

from __future__ import annotations

import pytest

from tests.distributed import cluster
from tests.distributed.conftest import Distributed

pytestmark = pytest.mark.distributed


def test_no_incomplete_multipart_upload_remains_in_the_bucket(distributed: Distributed) -> None:
    assert cluster.incomplete_uploads(distributed.client) == []
    assert cluster.keys(distributed.client, "")  # the scenarios did write objects (the check above is not vacuous)
