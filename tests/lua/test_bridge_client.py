"""BridgeClient.lua against answers the real bridge never gives: another API version, a stranger
on the port, a hang, an error body. A stand-in HTTP server on loopback plays those parts.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bridge.commands.install_plugin import install
from tests.lua.lightroom import Lightroom


class _StandIn(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, bytes, float]]] = {}
    seen: ClassVar[list[dict[str, Any]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        status, payload, delay = self.answers.get(self.path.split("?")[0], (404, b"{}", 0.0))
        time.sleep(delay)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client gave up
            self._send(status, payload)

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _StandIn.answers, _StandIn.seen = {}, []
    monkeypatch.setenv("IMAGEN_BRIDGE_CONFIG_DIR", str(tmp_path / "config"))
    plugin = install(tmp_path / "Modules", port=server.server_address[1]).folder
    yield plugin, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def health(api_version: int) -> tuple[int, bytes, float]:
    body = {"status": "ok", "version": "9.9.9", "api_version": api_version}
    return 200, json.dumps(body).encode(), 0.0


CALL = """
local method, path, timeout = ...
local client, err = (require "BridgeClient").connect()
if not client then return nil, err.code, err.message end
local data
if method == "health" then
  data, err = client:health()
else
  data, err = client:request(method, path, nil, timeout)
end
if data then return (require "Json").encode(data), nil, nil end
return nil, err.code, err.message
"""


def call(plugin: Path, method: str, path: str = "", timeout: float = 5) -> tuple[Any, ...]:
    lr = Lightroom({"photos": []}, plugin_dir=plugin)
    return tuple(lr.run_lua(CALL, method, path, timeout))


def test_a_bridge_of_another_api_version_is_named_with_what_to_do(
    standin: tuple[Path, str],
) -> None:
    plugin, url = standin
    _StandIn.answers["/v1/health"] = health(2)
    _, code, message = call(plugin, "health")
    assert code == "incompatible"
    assert "version 9.9.9" in message and "API version 2" in message and url in message
    assert "install-plugin" in message
    _StandIn.answers["/v1/health"] = health(1)
    assert json.loads(call(plugin, "health")[0])["api_version"] == 1


def test_the_edit_menu_stops_at_an_incompatible_bridge(standin: tuple[Path, str]) -> None:
    plugin, _ = standin
    _StandIn.answers["/v1/health"] = health(2)
    lr = Lightroom({"photos": [{"uuid": "A", "path": "/x/a.NEF", "fileFormat": "RAW"}],
                    "selection": ["A"]}, plugin_dir=plugin)  # fmt: skip
    lr.menu("Edit with Imagen...")
    (message,) = lr.messages
    assert message["style"] == "critical" and "API version 2" in message["info"]
    assert [s["path"] for s in _StandIn.seen] == ["/v1/health"]


def test_something_else_on_the_port_is_not_taken_for_the_bridge(
    standin: tuple[Path, str],
) -> None:
    plugin, _ = standin
    _StandIn.answers["/v1/jobs"] = (200, b"<html>hello</html>", 0.0)
    _, code, message = call(plugin, "GET", "/jobs")
    assert code == "bad_response" and "not JSON" in message


def test_the_bridge_s_own_error_message_is_passed_on(standin: tuple[Path, str]) -> None:
    plugin, _ = standin
    body = {"error": {"code": "validation_error", "message": "photos.0.path: must be absolute"}}
    _StandIn.answers["/v1/jobs"] = (422, json.dumps(body).encode(), 0.0)
    _, code, message = call(plugin, "GET", "/jobs")
    assert (code, message) == ("http_error", "photos.0.path: must be absolute")


def test_a_hanging_bridge_times_out_with_a_clear_message(standin: tuple[Path, str]) -> None:
    plugin, _ = standin
    _StandIn.answers["/v1/jobs"] = (200, b"{}", 3.0)
    _, code, message = call(plugin, "GET", "/jobs", 1)
    assert code == "timeout" and "did not answer within 1 seconds" in message


def test_requests_carry_the_token_json_and_no_text_plain(standin: tuple[Path, str]) -> None:
    plugin, _ = standin
    _StandIn.answers["/v1/jobs/j%201/cancel"] = (200, b'{"id": "j 1"}', 0.0)
    lr = Lightroom({"photos": []}, plugin_dir=plugin)
    lr.run_lua(
        """local client = (require "BridgeClient").connect()
        client:cancel("j 1")
        client:applied("j 1", { { index = 0, applied = true } })"""
    )
    cancel, applied = _StandIn.seen
    token = json.loads((plugin / "pairing.json").read_text())["token"]
    assert cancel["path"] == "/v1/jobs/j%201/cancel"
    assert cancel["headers"]["Authorization"] == f"Bearer {token}"
    assert "Content-Type" not in cancel["headers"] and cancel["body"] == b""
    assert applied["headers"]["Content-Type"] == "application/json"
    assert json.loads(applied["body"]) == {"photos": [{"index": 0, "applied": True}]}
    assert not any(token in line for line in lr.log)
