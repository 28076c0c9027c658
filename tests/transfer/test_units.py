"""Part planning, digests, backoff and progress: the pure pieces of the transfer engine."""

from __future__ import annotations

import base64
import hashlib
import logging
import math
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.transfer import (
    MAX_PARTS,
    MIN_PART_SIZE,
    ProgressEvent,
    RetryPolicy,
    md5_base64,
    parse_retry_after,
    plan_parts,
    redact_urls,
)
from bridge.transfer.progress import ByteCounter
from bridge.transfer.retry import RedactUrls

MiB = 2**20


def test_small_files_are_one_part_of_the_preferred_size() -> None:
    assert plan_parts(0) == (16 * MiB, 1)
    assert plan_parts(1) == (16 * MiB, 1)
    assert plan_parts(16 * MiB) == (16 * MiB, 1)
    assert plan_parts(16 * MiB + 1) == (16 * MiB, 2)


def test_part_size_never_drops_below_the_s3_minimum() -> None:
    assert plan_parts(20 * MiB, preferred=1 * MiB) == (5 * MiB, 4)


def test_huge_files_grow_the_part_size_to_stay_within_10000_parts() -> None:
    size = 500 * 2**30  # 500 GiB
    part_size, count = plan_parts(size)
    assert count <= MAX_PARTS
    assert part_size % MiB == 0
    assert (count - 1) * part_size < size <= count * part_size


def test_files_beyond_what_multipart_can_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="too large"):
        plan_parts(MAX_PARTS * 5 * 2**30 + 1)
    with pytest.raises(ValueError, match="negative"):
        plan_parts(-1)


@given(st.integers(min_value=1, max_value=40 * 2**40), st.integers(min_value=1, max_value=2**30))
def test_every_plan_covers_the_file_within_s3_limits(size: int, preferred: int) -> None:
    part_size, count = plan_parts(size, preferred=preferred)
    assert part_size >= MIN_PART_SIZE
    assert 1 <= count <= MAX_PARTS
    assert count == math.ceil(size / part_size)


def test_md5_is_the_base64_digest_of_the_whole_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # spans several read chunks
    path = tmp_path / "photo.nef"
    path.write_bytes(data)
    assert md5_base64(path) == base64.b64encode(hashlib.md5(data).digest()).decode()


def test_backoff_grows_with_jitter_and_respects_its_cap() -> None:
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=8.0)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered


def test_retry_after_is_a_floor_but_capped() -> None:
    policy = RetryPolicy(base_delay=0.01, max_delay=0.02, max_retry_after=30.0)
    assert policy.delay(1, retry_after=5.0) == 5.0
    assert policy.delay(1, retry_after=3600.0) == 30.0


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7.0
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0
    for bad in (None, "", "soon", "-3"):
        assert parse_retry_after(bad, now=now) is None


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


def test_redaction_keeps_the_host_and_path_but_drops_signatures() -> None:
    text = "failed PUT https://s3.example/b/IMG_1.NEF?X-Amz-Signature=abc&X-Amz-Credential=k ok"
    assert redact_urls(text) == "failed PUT https://s3.example/b/IMG_1.NEF?… ok"


def test_httpx_request_log_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactUrls())
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info('HTTP Request: %s %s "%s"', "PUT", "http://h/o/k?X-Amz-Signature=s3cr3t", "ok")
    assert "s3cr3t" not in caplog.text
    assert "http://h/o/k?…" in caplog.text


def test_progress_is_rate_limited_but_reports_start_retries_and_end() -> None:
    events: list[ProgressEvent] = []
    counter = ByteCounter(events.append, "upload", "a.nef", 10 * MiB)
    counter.start()
    for _ in range(10 * 16):  # 64 KiB steps
        counter.add(0, 64 * 1024)
    assert events[0] == ProgressEvent("upload", "a.nef", 0, 10 * MiB)
    assert events[-1].done == 10 * MiB
    assert len(events) == 1 + 40  # one per 256 KiB, no more
    counter.set(0, 0)  # a retry restarts the piece
    assert events[-1].done == 0
    counter.finish()
    assert events[-1].done == 0  # no duplicate event


def test_progress_sums_parallel_parts() -> None:
    events: list[ProgressEvent] = []
    counter = ByteCounter(events.append, "upload", "big.jpg", 3 * MiB, step=MiB)
    counter.set(1, MiB)
    counter.set(2, MiB)
    counter.set(1, MiB // 2)  # part 1 restarted halfway
    counter.set(3, MiB)
    assert [e.done for e in events] == [MiB, 2 * MiB, MiB + MiB // 2, 2 * MiB + MiB // 2]
