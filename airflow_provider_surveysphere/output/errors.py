"""Storage errors of an export, sorted into permanent and transient, each naming where it happened.

Permanent (the task fails without using its retries): permission denied, a parent that is not a
directory, no such bucket, a bad URL, missing credentials, a store's 4xx answer. Transient (the task's
retries apply): connection refused or reset, timeouts, a store's 5xx answer, throttling. An error we
cannot place is transient: a retry costs little, a wrongly permanent failure costs a night's data.
"""

from __future__ import annotations

import errno

from airflow_provider_surveysphere.exceptions import SurveySphereArgumentError, SurveySphereError
from airflow_provider_surveysphere.output.destination import OutputLocation

PERMANENT_ERRNOS = frozenset(
    {
        errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EROFS, errno.EEXIST,
        errno.ENAMETOOLONG, errno.EINVAL, errno.ENOSPC, errno.EDQUOT, errno.ELOOP, errno.EXDEV,
    }
)
# botocore signals these outside OSError; names, so that this module needs no botocore import.
PERMANENT_NAMES = frozenset(
    {"NoCredentialsError", "PartialCredentialsError", "ParamValidationError", "InvalidEndpointConfigurationError",
     "InvalidS3AddressingStyleError", "InvalidRegionError", "NoRegionError", "UnknownCredentialError"}
)
TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
     "RequestLimitExceeded", "TooManyRequests", "ServiceUnavailable", "InternalError", "ProvisionedThroughputExceeded"}
)
STORAGE_LIBRARIES = frozenset({"botocore", "aiobotocore", "s3fs", "gcsfs", "adlfs", "fsspec", "aiohttp", "urllib3"})


class SurveySphereOutputError(SurveySphereArgumentError):
    """The export cannot write to ``output_path`` and retrying will not help (permission, no bucket, bad URL).

    :param location: where the export writes
    :param problem: what is wrong
    """

    def __init__(self, location: OutputLocation | str, problem: str) -> None:
        self.location = location
        super().__init__("output_path", f"cannot write {_describe(location)}: {problem}")


class SurveySphereOutputExistsError(SurveySphereOutputError):
    """A create-only publish found its name taken (by another writer, meanwhile); nothing was published."""


class SurveySphereOutputTransientError(SurveySphereError):
    """Writing to ``output_path`` failed in a way a retry may fix (connection, timeout, 5xx, throttling).

    :param location: where the export writes
    :param problem: what happened
    """

    def __init__(self, location: OutputLocation | str, problem: str) -> None:
        self.location = location
        super().__init__(f"output_path: writing {_describe(location)} failed, a retry may succeed: {problem}")


def _describe(location: OutputLocation | str) -> str:
    return location if isinstance(location, str) else location.describe()


def is_storage_error(exc: BaseException) -> bool:
    """True for the errors a file system or object store raises, which the writer reports as output errors."""
    if isinstance(exc, (OSError, ValueError)):
        return True
    return any(cls.__module__.partition(".")[0] in STORAGE_LIBRARIES for cls in type(exc).__mro__)


def is_transient(exc: BaseException) -> bool:
    """Whether a storage error may go away on a retry."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & PERMANENT_NAMES:
        return False
    response = getattr(exc, "response", None)  # botocore ClientError
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in TRANSIENT_CODES or status >= 500 or status in (408, 429)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        return False
    if isinstance(exc, (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError)):
        return False
    if isinstance(exc, ValueError) and not isinstance(exc, OSError):
        return False  # a path or URL the store refuses
    return True


class UploadGoneError(FileNotFoundError):
    """The multipart upload being written no longer exists: a later attempt writing the same key aborted it."""


def is_upload_gone(exc: BaseException) -> bool:
    """True when the store says the multipart upload being written no longer exists (S3 ``NoSuchUpload``):
    a later attempt writing the same key aborted it (see :mod:`.stale_uploads`)."""
    seen: BaseException | None = exc
    for _ in range(8):  # s3fs raises FileNotFoundError from botocore's ClientError
        if seen is None:
            return False
        if isinstance(seen, UploadGoneError):
            return True
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code") == "NoSuchUpload":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


UPLOAD_GONE = (
    "the multipart upload was aborted while this attempt wrote it: a later attempt writing the same key (a retry "
    "of this task that took this attempt for dead, or another run) aborts the incomplete uploads older than its "
    "own when it starts (docs/deployment.md, Distributed deployments); this attempt published nothing"
)


def summary(exc: BaseException) -> str:
    """The error's type and message, without a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or "no message"
    return f"{type(exc).__name__}: {text}"


def output_error(location: OutputLocation | str, exc: BaseException, doing: str) -> SurveySphereError:
    """The classified error for ``exc``, raised while ``doing`` (e.g. ``"checking the bucket"``)."""
    problem = f"{doing}: {summary(exc)}"
    if is_upload_gone(exc):
        return SurveySphereOutputTransientError(location, f"{doing}: {UPLOAD_GONE}")
    if isinstance(exc, FileExistsError) and doing == "publishing":
        return SurveySphereOutputExistsError(location, f"{problem} (another writer published this name first)")
    if is_transient(exc):
        return SurveySphereOutputTransientError(location, problem)
    return SurveySphereOutputError(location, problem)
