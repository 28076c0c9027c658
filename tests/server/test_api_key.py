"""With a real API key configured, the key never shows: not in health, not in an error, not
in the log, even when Imagen rejects it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bridge.jobs.engine import JobEngine
from bridge.server.logs import LOG_FILE, setup_logging, teardown_logging
from bridge.server.token import load_or_create_token
from bridge.settings import load_settings
from tests.conftest import EmulatorFactory
from tests.jobs.helpers import make_photos
from tests.server.support import live_app

KEY = "imagen-key-THAT-MUST-NOT-LEAK-0123456789"


async def test_a_rejected_key_is_a_502_that_names_its_source_not_the_key(
    emulator_factory: EmulatorFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    imagen = await emulator_factory(api_key="the-only-key-the-service-takes")
    monkeypatch.setenv("IMAGEN_API_KEY", KEY)
    monkeypatch.setenv("IMAGEN_BRIDGE_BASE_URL", imagen.base_url)
    settings = load_settings()
    handlers = setup_logging(tmp_path / "logs", [KEY])
    logging.getLogger("bridge").setLevel(logging.DEBUG)
    try:
        async with (
            JobEngine.open(settings) as engine,
            live_app(engine, settings, load_or_create_token()) as live,
        ):
            health = await live.call("GET", "/v1/health", token=None)
            assert health.json["backend"] == "imagen"
            assert health.json["api_key_configured"] is True
            profiles = await live.call("GET", "/v1/profiles")
            assert profiles.status == 502 and profiles.error_code == "imagen_unavailable"
            assert "IMAGEN_API_KEY" in profiles.json["error"]["message"]
            paths = make_photos(tmp_path / "shoot", ["IMG_1.CR2"])
            job = await live.call(
                "POST", "/v1/jobs", json_body={"photos": [{"path": str(paths[0])}],
                                               "profile_key": 5700},
            )  # fmt: skip
            assert job.status == 502
            answers = [health, profiles, job]
    finally:
        logging.getLogger("bridge").setLevel(logging.NOTSET)
        teardown_logging(handlers)
    for answer in answers:
        assert KEY not in answer.body.decode()
    assert KEY not in (tmp_path / "logs" / LOG_FILE).read_text()
