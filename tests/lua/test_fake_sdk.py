"""The fake Lightroom enforces the SDK's documented rules (so the plug-in's tests mean something).

Each check runs a snippet as plug-in code (the sandbox's globals, ``import``) inside a task.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.lua.lightroom import Lightroom

PHOTOS = [
    {"uuid": "A", "path": "/p/a/IMG_1.CR2", "fileFormat": "RAW", "develop": {}},
    {"uuid": "VC", "isVirtualCopy": True, "masterUuid": "A", "develop": {}},
    {"uuid": "J", "path": "/p/b/x.jpg", "fileFormat": "JPG", "develop": {}},
]


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        text = "\n".join(f"{k}: {v}" for k, v in self.headers.items()) + "\n\n"
        payload = (text + body.decode()).encode()
        self.send_response(207)
        self.send_header("X-Echo", "yes")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def run_plugin_code(source: str, *args: Any) -> Any:
    """Runs source as a plug-in function inside a task; returns its results."""
    lr = Lightroom({"photos": PHOTOS, "selection": ["A", "VC"]})
    return lr, lr.run_lua(source, *args)


def plugin_error(source: str, *args: Any) -> str:
    with pytest.raises(Exception) as info:
        run_plugin_code(source, *args)
    return str(info.value)


def test_http_outside_a_task_fails() -> None:
    lr = Lightroom({"photos": []})
    chunk = lr.lua.eval(
        "function(env) local f = loadstring([[return import('LrHttp').get('http://127.0.0.1:1')]])"
        "setfenv(f, env) return pcall(f) end"
    )
    ok, err = chunk(lr.h.env)
    assert ok is False and "within an asynchronous task" in err


def test_http_is_real_headers_are_field_value_lists_and_text_plain_is_added(echo_url: str) -> None:
    _, (body, status, echo) = run_plugin_code(
        """local url = ...
        local LrHttp = import "LrHttp"
        local body, hdrs = LrHttp.post(url, "hello", { { field = "X-A", value = "1" } }, "PUT", 5)
        local echo
        for _, h in ipairs(hdrs) do if h.field == "X-Echo" then echo = h.value end end
        return body, hdrs.status, echo""",
        echo_url,
    )
    assert status == 207 and echo == "yes"
    assert "X-A: 1" in body and "Content-Type: text/plain" in body and body.endswith("hello")


def test_content_type_skip_leaves_the_header_out(echo_url: str) -> None:
    _, (body, _hdrs) = run_plugin_code(
        """local url = ...
        return (import "LrHttp").post(url, "", { { field = "Content-Type", value = "skip" } })""",
        echo_url,
    )
    assert "Content-Type" not in body


def test_dictionary_headers_are_refused(echo_url: str) -> None:
    err = plugin_error(
        """return (import "LrHttp").get(..., { ["Authorization"] = "Bearer x" })""", echo_url
    )
    assert "list of { field" in err


def test_a_dead_port_answers_with_hdrs_error() -> None:
    _, (body, code) = run_plugin_code(
        """local body, hdrs = (import "LrHttp").get("http://127.0.0.1:9/", nil, 2)
        return body == nil, hdrs.error.errorCode"""
    )
    assert body is True and code == "cannotConnectToHost"


def test_no_http_and_no_yield_inside_a_write_gate(echo_url: str) -> None:
    err = plugin_error(
        """local url = ...
        local catalog = (import "LrApplication").activeCatalog()
        catalog:withWriteAccessDo("x", function()
          (import "LrHttp").get(url)
        end, { timeout = 1 })""",
        echo_url,
    )
    assert "not allowed inside catalog:withWriteAccessDo" in err
    err = plugin_error(
        """local catalog = (import "LrApplication").activeCatalog()
        catalog:withWriteAccessDo("x", function()
          (import "LrTasks").sleep(1)
        end, { timeout = 1 })"""
    )
    assert "yielding is not allowed" in err


def test_photo_lookups_inside_a_write_gate_fail() -> None:
    err = plugin_error(
        """local catalog = (import "LrApplication").activeCatalog()
        catalog:withWriteAccessDo("x", function()
          catalog:findPhotoByUuid("A")
        end, { timeout = 1 })"""
    )
    assert "photo look-ups are not allowed" in err


def test_without_timeout_a_blocked_write_throws_and_with_one_it_aborts_quietly() -> None:
    lr = Lightroom({"photos": PHOTOS})
    lr.h.writeHeldUntil = 100
    chunk = lr.lua.eval(
        """function(env) local f = loadstring([[
        local catalog = (import "LrApplication").activeCatalog()
        local LrTasks = import "LrTasks"
        local ok, err = LrTasks.pcall(catalog.withWriteAccessDo, catalog, "x", function() end)
        local ran = false
        local status = catalog:withWriteAccessDo("y", function() ran = true end, { timeout = 5 })
        return ok, err, status, ran]]) setfenv(f, env) return f end"""
    )
    ok, err, status, ran = lr.h.callInTask(chunk(lr.h.env))
    assert ok is False and "blocked by another write access call" in err
    assert status == "aborted" and ran is False


def test_writes_need_a_gate() -> None:
    err = plugin_error(
        """local photo = (import "LrApplication").activeCatalog():findPhotoByUuid("A")
        photo:applyDevelopSettings({ Exposure2012 = 1 })"""
    )
    assert "must be called inside catalog:withWriteAccessDo" in err


def test_unknown_raw_metadata_keys_throw() -> None:
    err = plugin_error(
        """local photo = (import "LrApplication").activeCatalog():findPhotoByUuid("A")
        return photo:getRawMetadata("fileName")"""
    )
    assert "unknown key 'fileName'" in err
    err = plugin_error(
        """local catalog = (import "LrApplication").activeCatalog()
        return catalog:batchGetRawMetadata(catalog:getTargetPhotos(), { "path", "bogus" })"""
    )
    assert "unknown key 'bogus'" in err


def test_virtual_copy_metadata_names_its_master_and_shares_its_path() -> None:
    _, (path, is_copy, master_uuid) = run_plugin_code(
        """local catalog = (import "LrApplication").activeCatalog()
        local vc = catalog:findPhotoByUuid("VC")
        local keys = { "path", "isVirtualCopy", "masterPhoto" }
        local m = catalog:batchGetRawMetadata({ vc }, keys)[vc]
        return m.path, m.isVirtualCopy, m.masterPhoto:getRawMetadata("uuid")"""
    )
    assert (path, is_copy, master_uuid) == ("/p/a/IMG_1.CR2", True, "A")


def test_plain_pcall_around_a_yield_fails_and_lrtasks_pcall_works() -> None:
    _, (plain_ok, plain_err, task_ok) = run_plugin_code(
        """local LrTasks = import "LrTasks"
        local ok, err = pcall(function() LrTasks.sleep(1) end)
        local ok2 = LrTasks.pcall(function() LrTasks.sleep(1) return true end)
        return ok, err, ok2"""
    )
    assert plain_ok is False and "yield across" in plain_err and task_ok is True


def test_sandbox_has_no_print_package_or_os_execute_and_forbids_globals() -> None:
    for source, words in [
        ("print('x')", "'print' is not a global"),
        ("return package.path", "'package' is not a global"),
        ("return os.execute('true')", "attempt to call field 'execute'"),
        ("x = 1", "set the global 'x'"),
        ("import 'socket'", "no Lightroom SDK namespace"),
        ("require 'os'", "no module 'os' in the plug-in folder"),
        ("require '../x'", "plain file name"),
    ]:
        assert words in plugin_error(source), source


def test_prefs_keep_nested_tables_only_when_assigned_again() -> None:
    _, (before, after) = run_plugin_code(
        """local prefs = (import "LrPrefs").prefsForPlugin()
        prefs.t = { a = 1 }
        prefs.t.a = 2
        local before = prefs.t.a
        local t = prefs.t
        t.a = 3
        prefs.t = t
        return before, prefs.t.a"""
    )
    assert (before, after) == (1, 3)


def test_non_raw_photos_ignore_kelvin_white_balance() -> None:
    _, (temp_jpg, incr_jpg, temp_raw) = run_plugin_code(
        """local catalog = (import "LrApplication").activeCatalog()
        local j, a = catalog:findPhotoByUuid("J"), catalog:findPhotoByUuid("A")
        catalog:withWriteAccessDo("x", function()
          j:applyDevelopSettings({ Temperature = 5000, IncrementalTemperature = 3 })
          a:applyDevelopSettings({ Temperature = 5000 })
        end, { timeout = 1 })
        return j:getDevelopSettings().Temperature, j:getDevelopSettings().IncrementalTemperature,
          a:getDevelopSettings().Temperature"""
    )
    assert (temp_jpg, incr_jpg, temp_raw) == (None, 3, 5000)
