"""A 30-photo job survives ``kill -9`` of the serving bridge during upload, editing, download
and merging: after each restart it goes on, and in the end every file went up once, the edit
was started once per project, every sidecar was merged once, and undo restores them all.

Real processes throughout: ``imagen-bridge emulator`` (its access log is the witness of
what reached the service) and ``imagen-bridge serve``, driven over its HTTP API.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.jobs.helpers import make_photos

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent / "imagen-bridge"
ENDED = ("done", "failed", "canceled")
SAMPLES = (
    "exifr_IMG_5910_lightroom.xmp",
    "photoprism_canon_eos_6d.xmp",
    "pyxmptk_test1_early-lightroom.xmp",
    "photoprism_photoshop.xmp",
    "exiv2_BlueSquare.xmp",
    "photoprism_fstop-favorite.xmp",
)


class Bridge:
    """``imagen-bridge serve`` as a real process, killed and started again at will."""

    def __init__(self, env: dict[str, str], config_dir: Path) -> None:
        self.env = env
        self.config_dir = config_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.http: httpx.Client | None = None

    def start(self) -> httpx.Client:
        info = self.config_dir / "server.json"
        info.unlink(missing_ok=True)  # a killed server leaves it behind
        self.process = subprocess.Popen(
            [str(BIN), "serve", "--port", "0"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if info.exists():
                try:
                    data = json.loads(info.read_text())
                except ValueError:
                    data = None
                if data and data.get("pid") == self.process.pid:
                    token = (self.config_dir / "token").read_text().strip()
                    self.http = httpx.Client(
                        base_url=data["url"],
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=30,
                    )
                    return self.http
            assert self.process.poll() is None, "serve exited while starting"
            time.sleep(0.05)
        raise AssertionError("serve did not write server.json")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if self.http is not None:
            self.http.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "access.log"
    process = subprocess.Popen(
        [
            str(BIN), "emulator", "--port", "0", "--access-log", str(log),
            "--processing-time", "2.5", "--latency-ms", "15",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    url = None
    for line in process.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            url = found.group(1)
            break
    assert url, "the emulator did not say where it listens"
    yield url, log
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def shoot(tmp_path: Path, shared_dir: Path) -> tuple[list[Path], dict[Path, bytes | None]]:
    """30 photos: raws (most with real sidecars), the same names in a second folder, a DNG,
    a JPEG; umlauts, CJK, emoji and spaces in the names."""
    first = tmp_path / "Hochzeit Müller"
    second = tmp_path / "婚礼 🌅 day 2"
    names = [f"DSC_{n:04d}.NEF" for n in range(1, 15)] + ["Brautstrauß 15.CR2", "夕日 16.ARW"]
    photos = make_photos(first, names, size=1_500_000)
    photos += make_photos(second, [f"DSC_{n:04d}.NEF" for n in range(1, 12)], size=1_500_000)
    photos += make_photos(first, ["Kirche.DNG", "Handy 🌅.jpg"], size=1_500_000)
    assert len(photos) == 29
    photos += make_photos(second, ["Party.CR2"], size=1_500_000)
    sidecars: dict[Path, bytes | None] = {}
    samples = shared_dir / "data" / "xmp-samples"
    for n, photo in enumerate(p for p in photos if p.suffix.upper() in (".NEF", ".CR2", ".ARW")):
        sidecar = photo.with_suffix(".xmp")
        if n % 3 != 2:  # two of three raws already have a sidecar of the photographer's
            sidecar.write_bytes((samples / SAMPLES[n % len(SAMPLES)]).read_bytes())
            sidecars[sidecar] = sidecar.read_bytes()
        else:
            sidecars[sidecar] = None
    return photos, sidecars


def wait_for(
    http: httpx.Client, job_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    revision = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = http.get(f"/jobs/{job_id}", params={"wait": 5, "since": revision}).json()
        if done(view):
            return view
        revision = view["revision"]
    raise AssertionError(f"the job never reached the state waited for: {view}")


def test_a_job_survives_kill_9_at_every_stage(
    tmp_path: Path, shared_dir: Path, emulator: tuple[str, Path]
) -> None:
    base_url, log = emulator
    config_dir, data_dir = tmp_path / "config", tmp_path / "data"
    env = {
        **os.environ,
        "IMAGEN_BRIDGE_CONFIG_DIR": str(config_dir),
        "IMAGEN_BRIDGE_DATA_DIR": str(data_dir),
        "IMAGEN_API_KEY": "e2e-key",
        "IMAGEN_BRIDGE_BASE_URL": base_url,
        "IMAGEN_BRIDGE_TRANSFERS": "2",  # uploads take long enough to be killed in
    }
    photos, sidecars = shoot(tmp_path / "shoot", shared_dir)
    bridge = Bridge(env, config_dir)
    http = bridge.start()
    try:
        created = http.post(
            "/jobs",
            json={
                "photos": [{"path": str(p), "id": f"lr-{i}"} for i, p in enumerate(photos)],
                "profile_key": 5700,
                "jpeg_profile_key": 5702,
                "photography_type": "WEDDING",
                "tools": {"crop": True, "subject_mask": True},
            },
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        stages: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
            ("upload", lambda v: v["counts"]["editing"] >= 4 and v["counts"]["uploading"] > 0),
            ("editing", lambda v: v["counts"]["editing"] >= 20),
            ("download", lambda v: v["counts"]["downloading"] > 0),
            ("merging", lambda v: v["counts"]["merging"] > 0),
        ]
        seen = []
        for stage, reached in stages:
            view = wait_for(http, job_id, lambda v, r=reached: r(v) or v["state"] in ENDED)  # type: ignore[misc]
            if reached(view):
                seen.append(stage)
            bridge.kill()
            http = bridge.start()
        assert seen == [s for s, _ in stages], f"killed only during {seen}"
        final = wait_for(http, job_id, lambda v: v["state"] in ENDED)
        photo_views = http.get(f"/jobs/{job_id}/photos").json()["photos"]
    finally:
        bridge.stop()

    assert final["state"] == "done", final
    assert final["counts"]["ready"] == 30, final["counts"]
    assert [p["id"] for p in photo_views] == [f"lr-{i}" for i in range(30)]
    assert all(p["develop_settings"] for p in photo_views)

    # every photo's file went up exactly once
    lines = [line.split(" ") for line in log.read_text().splitlines()]
    uploads = Counter(
        target.split("?")[0]
        for method, target, status, _ in lines
        if method == "PUT" and status == "200" and "/uploads/" in target
    )
    assert len(uploads) == 30 and set(uploads.values()) == {1}, uploads
    # every edit was started once, per project (RAW x2 for the repeated names, JPEG)
    edits = [t for m, t, s, _ in lines if m == "POST" and t.endswith("/edit") and s == "200"]
    assert len(edits) == 3, edits

    # every sidecar was merged exactly once, and undo restores each byte for byte
    db = sqlite3.connect(data_dir / "bridge.sqlite3")
    journaled = Counter(
        os.fsdecode(row[0])
        for row in db.execute(
            "SELECT sidecar FROM entries WHERE merge_id = ?", (final["merge_id"],)
        )
    )
    db.close()
    assert set(journaled) == {str(s) for s in sidecars} and set(journaled.values()) == {1}
    for sidecar in sidecars:
        assert b"crs:" in sidecar.read_bytes() or b"crs=" in sidecar.read_bytes()
    undo = subprocess.run(
        [str(BIN), "undo", final["merge_id"], "--json"], env=env, capture_output=True, check=False
    )
    assert undo.returncode == 0, undo.stderr.decode(errors="replace")
    for sidecar, before in sidecars.items():
        if before is None:
            assert not sidecar.exists()
        else:
            assert sidecar.read_bytes() == before
