"""Bytes to and from presigned storage URLs. Imports nothing of the bridge.

Streaming PUTs with exact lengths, S3 multipart with per-part retries, GETs
to a temp file with ``Range`` resume and atomic publish, fresh links on
expiry, bounded concurrency and byte progress; in this process or, with
:class:`TransferProcess`, in a helper process of its own.
"""

from bridge.transfer.engine import DEFAULT_TIMEOUT, Landing, LinkProvider, Transfer
from bridge.transfer.errors import TransferError
from bridge.transfer.files import MAX_PARTS, MIN_PART_SIZE, md5_base64, plan_parts
from bridge.transfer.names import safe_file_name
from bridge.transfer.process import TransferProcess
from bridge.transfer.progress import ProgressCallback, ProgressEvent
from bridge.transfer.retry import (
    RETRYABLE_ERRORS,
    RETRYABLE_STATUSES,
    RetryPolicy,
    parse_retry_after,
    redact_urls,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "RETRYABLE_ERRORS",
    "RETRYABLE_STATUSES",
    "Landing",
    "LinkProvider",
    "ProgressCallback",
    "ProgressEvent",
    "RetryPolicy",
    "Transfer",
    "TransferError",
    "TransferProcess",
    "md5_base64",
    "parse_retry_after",
    "plan_parts",
    "redact_urls",
    "safe_file_name",
]
