"""Durable edit jobs: the one use case the CLI and the server are adapters for.

The public surface is below; everything else in the package is internal. Names are
imported on first use (PEP 562), so ``import bridge.jobs.plan`` does not load the HTTP
stacks the engine needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.jobs.book import JobBook
    from bridge.jobs.engine import JobEngine
    from bridge.jobs.errors import JobConflict, JobNotFound, JobRequestError
    from bridge.jobs.models import (
        AppliedRequest,
        DeliverySpec,
        JobList,
        JobRequest,
        JobSpec,
        JobState,
        JobView,
        PhotoList,
        PhotoState,
        PhotoView,
    )

_WHERE = {
    "JobBook": "book",
    "JobEngine": "engine",
    "JobConflict": "errors",
    "JobNotFound": "errors",
    "JobRequestError": "errors",
    **dict.fromkeys(
        (
            "AppliedRequest", "DeliverySpec", "JobList", "JobRequest", "JobSpec", "JobState",
            "JobView",
            "PhotoList", "PhotoState", "PhotoView",
        ),
        "models",
    ),
}  # fmt: skip
__all__ = [
    "AppliedRequest",
    "DeliverySpec",
    "JobBook",
    "JobConflict",
    "JobEngine",
    "JobList",
    "JobNotFound",
    "JobRequest",
    "JobRequestError",
    "JobSpec",
    "JobState",
    "JobView",
    "PhotoList",
    "PhotoState",
    "PhotoView",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bridge.jobs' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bridge.jobs.{module}"), name)
