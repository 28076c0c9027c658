"""A fake Lightroom Classic that runs the plug-in's own files, unchanged, in real Lua 5.1.

The SDK is written in Lua (``fake_sdk/``) and enforces the rules Lightroom documents; this
module wires it to Python: real HTTP for ``LrHttp`` (httpx, loopback only), the file system
for ``LrFileUtils``, and the test's hands for modal dialogs and the progress scope's cancel
button. The catalog and the preferences are plain data (``state()``), so a test can "restart"
Lightroom by building a new :class:`Lightroom` (a fresh Lua state) from the old one's state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from lupa import lua51

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "lua_plugin" / "ImagenBridge.lrplugin"
FAKE_SDK = Path(__file__).resolve().parent / "fake_sdk"
TOOLKIT_ID = "org.imagenbridge.lightroom"
RAW_EXTENSIONS = frozenset(
    {"nef", "cr2", "cr3", "arw", "nrw", "crw", "srf", "sr2", "orf", "raw", "rw2", "raf", "ptx"}
    | {"pef", "rwl", "srw", "3fr", "fff"}
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class LightroomQuit(Exception):
    """Raised by a test hook to make Lightroom quit where it stands (no cleanup runs)."""


def to_lua(lua: Any, value: Any) -> Any:
    """Python data -> Lua tables (lists become 1-based arrays)."""
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value


def from_lua(value: Any) -> Any:
    """Lua tables -> Python data: 1..n keys become a list, any other keys a dict."""
    if lua51.lua_type(value) != "table":
        return value
    items = list(value.items())
    keys = [k for k, _ in items]
    if (
        keys
        and all(isinstance(k, int) for k in keys)
        and sorted(keys) == list(range(1, len(keys) + 1))
    ):
        return [from_lua(value[i]) for i in range(1, len(keys) + 1)]
    return {k: from_lua(v) for k, v in items}


class Dialog:
    """A modal dialog as the test sees it: its own controls, found by title or label."""

    def __init__(self, lua_dialog: Any) -> None:
        self._d = lua_dialog
        self.title: str = lua_dialog.args.title

    def _call(self, method: str, *args: Any) -> Any:
        return self._d[method](self._d, *args)

    def set(self, name: str, value: Any) -> None:
        self._call("set", name, value)

    def choose(self, name: str, item_title: str) -> None:
        self._call("choose", name, item_title)

    def get(self, name: str) -> Any:
        return from_lua(self._call("get", name))

    def enabled(self, name: str) -> bool:
        return bool(self._call("enabled", name))

    def items(self, name: str) -> list[str]:
        return list(from_lua(self._call("items", name)) or [])

    def texts(self) -> list[str]:
        return list(from_lua(self._call("texts")) or [])


DialogAnswer = Callable[[Dialog], str]


class Lightroom:
    """One run of Lightroom: a Lua 5.1 state with the fake SDK and the plug-in loaded."""

    def __init__(
        self,
        state: dict[str, Any],
        *,
        plugin_dir: Path = PLUGIN_DIR,
        windows: bool = False,
        on_dialog: DialogAnswer | None = None,
        on_progress: Callable[[Lightroom, Any, str], None] | None = None,
        on_request: Callable[[str, str], None] | None = None,
        lose_answer: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.lua = lua51.LuaRuntime(unpack_returned_tuples=True, register_eval=False)
        self.h = self.lua.table()
        for part in ("core", "catalog", "ui", "system"):
            self.lua.execute((FAKE_SDK / f"{part}.lua").read_text("utf-8"))(self.h)
        self.http = httpx.Client(trust_env=False)
        self.on_dialog = on_dialog
        self.on_progress = on_progress
        self.on_request = on_request
        self.lose_answer = lose_answer  # True: the request went out, its answer is lost
        self.dialogs: list[str] = []
        self._callback_error: BaseException | None = None
        h = self.h
        h.windows = windows
        h.plugin = to_lua(self.lua, {"id": TOOLKIT_ID, "path": str(plugin_dir), "enabled": True})
        h.state = to_lua(self.lua, copy.deepcopy(state))
        h.pyHttp = self._http
        h.fileKind = _file_kind
        h.readFile = _read_file
        h.fileExists = lambda path: Path(path).is_file()
        h.isRawExtension = lambda ext: str(ext).lower() in RAW_EXTENSIONS
        h.answerDialog = self._answer_dialog
        h.answerConfirm = lambda message, info: "ok"
        h.onProgress = self._progress
        h.beforeRequest = self._before_request
        h.env = h.makeEnv()

    # -- running the plug-in ------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return from_lua(self.h.loadInfo())  # type: ignore[no-any-return]

    def menu(self, title: str) -> None:
        """Chooses a Plug-in Extras menu item and runs Lightroom until its tasks end."""
        items = self.info()["LrLibraryMenuItems"]
        files = [item["file"] for item in items if item["title"] == title]
        assert files, f"no menu item {title!r}: {[i['title'] for i in items]}"
        self.h.runScript(files[0])
        self.run()

    def run(self) -> None:
        try:
            self.h.run(200_000)
        finally:
            self._reraise()

    def call(self, module: str, function: str, *args: Any) -> Any:
        """Calls a plug-in module's function inside a task (for unit-level checks)."""
        mod = self.h.require(module)
        try:
            return self.h.callInTask(mod[function], *args)
        finally:
            self._reraise()

    def run_lua(self, source: str, *args: Any) -> Any:
        """Runs source as plug-in code (sandbox globals, import, require) inside a task."""
        compile_in = self.lua.eval(
            "function(env, source) local f, err = loadstring(source, 'test code') "
            "if not f then error(err) end setfenv(f, env) return f end"
        )
        try:
            return self.h.callInTask(compile_in(self.h.env, source), *args)
        finally:
            self._reraise()

    def require(self, module: str) -> Any:
        return self.h.require(module)

    def quit(self) -> None:
        """Lightroom quits now: no task is resumed again, nothing is cleaned up."""
        self.h.quit = True

    # -- what happened ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return from_lua(self.h.state)  # type: ignore[no-any-return]

    def photo(self, uuid: str) -> dict[str, Any]:
        for photo in self.state()["photos"]:
            if photo["uuid"] == uuid:
                return photo  # type: ignore[no-any-return]
        raise KeyError(uuid)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(from_lua(self.h.messages) or [])

    @property
    def task_errors(self) -> list[dict[str, Any]]:
        return list(from_lua(self.h.taskErrors) or [])

    @property
    def scopes(self) -> list[dict[str, Any]]:
        return [
            {
                "title": s.title,
                "captions": list(from_lua(s.captions) or []),
                "done": bool(s.isDoneFlag),
                "canceled": bool(s.canceled),
            }
            for s in (self.h.scopes[i] for i in range(1, len(self.h.scopes) + 1))
        ]

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(from_lua(self.h.requests) or [])

    @property
    def log(self) -> list[str]:
        return list(from_lua(self.h.logLines) or [])

    @property
    def gates(self) -> list[str]:
        return list(from_lua(self.h.gates) or [])

    # -- Python behind the fake SDK -----------------------------------------------------

    def _reraise(self) -> None:
        error, self._callback_error = self._callback_error, None
        if error is not None:
            raise error

    def _http(self, method: str, url: str, headers: Any, body: str, timeout: float) -> Any:
        host = urlsplit(url).hostname
        if host not in LOOPBACK:
            raise AssertionError(f"the plug-in called a non-loopback address: {url}")
        pairs = [(h[1], h[2]) for h in (headers[i] for i in range(1, len(headers) + 1))]
        try:
            response = self.http.request(
                method,
                url,
                headers=pairs,
                content=body.encode("utf-8") if method != "GET" else None,
                timeout=httpx.Timeout(timeout),
            )
        except httpx.TimeoutException:
            return "timedOut"
        except httpx.ConnectError:
            return "cannotConnectToHost"
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            return "networkConnectionLost"
        if self.lose_answer is not None and self.lose_answer(method, url):
            return "networkConnectionLost"
        return (
            response.status_code,
            response.content,
            to_lua(
                self.lua,
                [[k.decode("latin-1"), v.decode("latin-1")] for k, v in response.headers.raw],
            ),
        )

    def _answer_dialog(self, lua_dialog: Any) -> str:
        dialog = Dialog(lua_dialog)
        self.dialogs.append(dialog.title)
        if self.on_dialog is None:
            self._callback_error = AssertionError(f"unexpected dialog {dialog.title!r}")
            return "cancel"
        try:
            return self.on_dialog(dialog)
        except BaseException as exc:  # the test's own assertion: surface it after the run
            self._callback_error = exc
            self.quit()
            return "cancel"

    def _progress(self, scope: Any, what: str) -> None:
        if self.on_progress is not None:
            self._hook(self.on_progress, self, scope, what)

    def _before_request(self, method: str, url: str) -> None:
        if self.on_request is not None:
            self._hook(self.on_request, method, url)

    def _hook(self, hook: Callable[..., None], *args: Any) -> None:
        """Runs a test hook: LightroomQuit quits Lightroom, any other error fails the test."""
        try:
            hook(*args)
        except LightroomQuit:
            self.quit()
        except BaseException as exc:
            self._callback_error = exc
            self.quit()


def _file_kind(path: str) -> str | bool:
    p = Path(path)
    if p.is_file():
        return "file"
    if p.is_dir():
        return "directory"
    return False


def _read_file(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None
