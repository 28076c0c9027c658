"""Every route refuses callers without the token, with a foreign Host, or from a web page,
before it does anything (the engine behind these apps fails the test if reached)."""

from __future__ import annotations

import re

import pytest

from bridge.server.app import OPERATIONS
from tests.server.support import Live

ROUTES = [(op.method, re.sub(r"{\w+}", "j-20261201-221503-4f2a9c", op.path), op.public)
          for op in OPERATIONS]  # fmt: skip
IDS = [f"{method} {path}" for method, path, _ in ROUTES]


@pytest.mark.parametrize(("method", "path", "public"), ROUTES, ids=IDS)
async def test_without_token_401(guarded: Live, method: str, path: str, public: bool) -> None:
    if public:
        answer = await guarded.call(method, path, token=None)
        assert answer.status == 200
        return
    for token in (None, "wrong", guarded.token[:-1], guarded.token + "x", "Bearer"):
        answer = await guarded.call(method, path, token=token)
        assert answer.status == 401, (token, answer)
        assert answer.error_code == "unauthorized"
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert guarded.token not in answer.body.decode()


@pytest.mark.parametrize(("method", "path", "public"), ROUTES, ids=IDS)
async def test_wrong_scheme_or_non_ascii_token_401(
    guarded: Live, method: str, path: str, public: bool
) -> None:
    if public:
        pytest.skip("health needs no token")
    for value in (
        f"Basic {guarded.token}",
        guarded.token,
        "Bearer jörg-😀".encode().decode("latin-1"),
    ):
        answer = await guarded.call(method, path, token=None, headers={"Authorization": value})
        assert answer.status == 401
        assert answer.error_code == "unauthorized"


@pytest.mark.parametrize(("method", "path", "public"), ROUTES, ids=IDS)
async def test_foreign_host_403(guarded: Live, method: str, path: str, public: bool) -> None:
    port = guarded.port
    for host in (f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1", "localhost",
                 f"127.0.0.2:{port}", f"[::1]:{port}", f"localhost.:{port}", ""):  # fmt: skip
        answer = await guarded.call(method, path, headers={"Host": host})
        assert answer.status == 403, host
        assert answer.error_code == "forbidden_host"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST"])
async def test_both_loopback_names_are_accepted(guarded: Live, host: str) -> None:
    answer = await guarded.call("GET", "/v1/health", headers={"Host": f"{host}:{guarded.port}"})
    assert answer.status == 200


@pytest.mark.parametrize(("method", "path", "public"), ROUTES, ids=IDS)
async def test_browser_requests_403(guarded: Live, method: str, path: str, public: bool) -> None:
    refused = [
        {"Origin": f"http://127.0.0.1:{guarded.port}"},  # even our own origin: no page may call
        {"Origin": "null"},
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-site"},
    ]
    for headers in refused:
        answer = await guarded.call(method, path, headers=headers)
        assert answer.status == 403, headers
        assert answer.error_code == "forbidden_origin"


async def test_sec_fetch_site_none_is_a_user_typing_the_url(guarded: Live) -> None:
    answer = await guarded.call("GET", "/v1/health", headers={"Sec-Fetch-Site": "none"})
    assert answer.status == 200


async def test_host_is_checked_before_the_token(guarded: Live) -> None:
    answer = await guarded.call("GET", "/v1/jobs", token=None, headers={"Host": "evil.example"})
    assert answer.error_code == "forbidden_host"


async def test_unknown_routes_need_the_token_too(guarded: Live) -> None:
    assert (await guarded.call("GET", "/v1/nothing", token=None)).status == 401
    assert (await guarded.call("GET", "/v1/nothing")).error_code == "not_found"
