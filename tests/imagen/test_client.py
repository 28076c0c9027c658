"""The client against a scripted API: wire format, error reporting, retries, secrecy."""

from __future__ import annotations

import logging
import socket

import pytest

from bridge.imagen import (
    EditOptions,
    ImagenAuthError,
    ImagenClient,
    ImagenError,
    ImagenValidationError,
    PhotographyType,
)
from tests.imagen.api_double import Answer, ApiDouble
from tests.imagen.conftest import FAST_RETRY, KEY_SOURCE, SECRET_KEY

UUID = "65f3a1c2d4e5f6a7b8c9d0e1"


async def test_a_rejected_key_says_where_it_came_from_and_never_shows_it(
    api: ApiDouble, client: ImagenClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A careless server might even echo the key back: it is still never shown.
    api.answer("GET", "/v1/profiles", Answer(401, {"error": {"message": f"Bad key {SECRET_KEY}"}}))
    with caplog.at_level(logging.DEBUG), pytest.raises(ImagenAuthError) as caught:
        await client.profiles()
    error = caught.value
    assert error.status == 401
    assert error.retryable is False
    assert KEY_SOURCE in str(error)
    assert "Bad key [API key]" in str(error)
    for text in (str(error), repr(error), error.server_message or "", repr(client), caplog.text):
        assert SECRET_KEY not in text
    assert len(api.calls) == 1  # a wrong key does not get better by asking again
    assert api.calls[0].headers["x-api-key"] == SECRET_KEY


@pytest.mark.parametrize(
    ("status", "body", "said", "retryable"),
    [
        (
            400,
            {"error": {"message": 'File "a.nef" appears 2 times.'}},
            'File "a.nef" appears',
            False,
        ),
        (404, {"detail": "Project not found"}, "Project not found", False),
        (409, {"error": "Already editing"}, "Already editing", False),
        (400, b"plain text problem", "plain text problem", False),
        (500, {"error": {"message": "Internal"}}, "Internal", True),
    ],
)
async def test_errors_carry_status_server_message_and_retryability(
    api: ApiDouble, client: ImagenClient, status: int, body: object, said: str, retryable: bool
) -> None:
    api.answer("GET", f"/v1/projects/{UUID}/edit/status", Answer(status, body))
    with pytest.raises(ImagenError) as caught:
        await client.edit_status(UUID)
    error = caught.value
    assert (error.status, error.retryable) == (status, retryable)
    assert error.server_message is not None and said in error.server_message
    assert f"HTTP {status}" in str(error)
    assert len(api.calls) == (FAST_RETRY.attempts if retryable else 1)


async def test_reads_are_retried_through_503_and_429_honouring_retry_after(
    api: ApiDouble, client: ImagenClient, caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    api.answer(
        "GET",
        "/v1/profiles",
        Answer(503, {"error": {"message": "busy"}}),
        Answer(429, {"error": "slow down"}, headers={"Retry-After": "1"}),
        Answer(200, [{"profile_key": 5700, "profile_name": "CLEAN & CRISP"}]),
    )
    with caplog.at_level(logging.WARNING):
        profiles = await client.profiles()
    assert [p.profile_key for p in profiles] == [5700]
    assert len(api.calls) == 3
    assert 1.0 in sleeps  # waited as told, though the policy says 0.01 s
    assert "attempt 2 of 3: Imagen GET /profiles failed with HTTP 429: slow down" in caplog.text
    assert "retrying in 1.0 s" in caplog.text


async def test_creating_a_project_is_not_repeated_after_an_ambiguous_failure(
    api: ApiDouble, client: ImagenClient
) -> None:
    api.answer("POST", "/v1/projects/", Answer(502, b"Bad Gateway"))
    with pytest.raises(ImagenError) as caught:
        await client.create_project("Wedding 2026")
    assert caught.value.retryable is True  # the caller may look the project up and decide
    assert len(api.calls) == 1


async def test_creating_a_project_is_repeated_after_rate_limiting(
    api: ApiDouble, client: ImagenClient
) -> None:
    api.answer(
        "POST",
        "/v1/projects/",
        Answer(429, {"error": "slow down"}),
        Answer(200, {"data": {"project_uuid": UUID}}),
    )
    assert await client.create_project("Wedding 2026") == UUID
    assert [c.json() for c in api.calls] == [{"name": "Wedding 2026"}] * 2
    assert [c.raw_path for c in api.calls] == ["/v1/projects/"] * 2


async def test_unreachable_imagen_is_a_retryable_error(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with ImagenClient(
        f"http://127.0.0.1:{port}/v1", SECRET_KEY, retry_policy=FAST_RETRY
    ) as client:
        with caplog.at_level(logging.WARNING), pytest.raises(ImagenError) as caught:
            await client.create_project()  # never sent, so even creation is retried
    assert caught.value.retryable is True
    assert caught.value.status is None
    assert "ConnectError" in str(caught.value)
    assert caplog.text.count("retrying in") == FAST_RETRY.attempts - 1


async def test_status_polls_use_the_short_read_timeout(
    api: ApiDouble, client: ImagenClient
) -> None:
    # The answer takes 2 s: fine for the 60 s read timeout, too slow for a status poll's.
    api.answer("GET", f"/v1/projects/{UUID}/edit/status", Answer(200, {"status": "x"}, delay=2))
    with pytest.raises(ImagenError, match="ReadTimeout") as caught:
        await client.edit_status(UUID)
    assert caught.value.retryable is True
    assert len(api.calls) == FAST_RETRY.attempts


async def test_start_edit_sends_json_with_an_empty_content_type(
    api: ApiDouble, client: ImagenClient
) -> None:
    api.answer("POST", f"/v1/projects/{UUID}/edit", Answer(200, None))  # empty body is fine
    await client.start_edit(
        UUID,
        5700,
        photography_type="wedding",
        options=EditOptions(crop=True, crop_aspect_ratio="4X5", straighten=False),  # type: ignore[arg-type]
    )
    [call] = api.calls
    assert call.headers.getall("Content-Type") == [""]
    assert call.json() == {
        "profile_key": 5700,
        "photography_type": "WEDDING",
        "crop": True,
        "crop_aspect_ratio": "4X5",
        "straighten": False,
    }


async def test_invalid_edits_are_refused_before_any_request(
    api: ApiDouble, client: ImagenClient
) -> None:
    with pytest.raises(ImagenValidationError, match="Unknown photography type 'astro'"):
        await client.start_edit(UUID, 5700, photography_type="astro")
    with pytest.raises(ImagenValidationError, match="profile_key"):
        await client.start_edit(UUID, True)
    bypassed = EditOptions.model_construct(crop=True, headshot_crop=True)
    with pytest.raises(ImagenValidationError, match="Choose at most one"):
        await client.start_edit(UUID, 5700, options=bypassed)
    with pytest.raises(ImagenValidationError, match="unique"):
        await client.upload_links(UUID, [("a.nef", None), ("a.nef", None)])
    with pytest.raises(ImagenValidationError, match="between 1 and 10000"):
        await client.i2i_multipart_create(UUID, "big.jpg", 10_001)
    assert api.calls == []


async def test_export_is_a_post_without_a_body(api: ApiDouble, client: ImagenClient) -> None:
    api.answer("POST", f"/v1/projects/{UUID}/export", Answer(200, {"message": "ok"}))
    await client.start_export(UUID)
    [call] = api.calls
    assert call.body == b""
    assert "Content-Type" not in call.headers
    assert call.headers.get("Content-Length", "0") == "0"


async def test_path_parameters_are_escaped(api: ApiDouble, client: ImagenClient) -> None:
    api.answer("GET", "/v1/projects/Hochzeit 2026/ü?#x/uuid", Answer(200, "uuid-1"))
    assert await client.project_uuid("Hochzeit 2026/ü?#x") == "uuid-1"
    assert api.calls[0].raw_path == "/v1/projects/Hochzeit%202026%2F%C3%BC%3F%23x/uuid"


@pytest.mark.parametrize(
    "payload",
    [
        [{"profile_key": 1, "image_type": "RAW"}],
        {"profiles": [{"profile_key": 1, "image_type": "RAW"}]},
        {"data": {"profiles": [{"profile_key": 1, "image_type": "RAW"}]}},
        {"data": [{"profile_key": 1, "image_type": "RAW"}]},
    ],
)
async def test_profiles_in_every_shape(
    api: ApiDouble, client: ImagenClient, payload: object
) -> None:
    api.answer("GET", "/v1/profiles", Answer(200, payload))
    [profile] = await client.profiles()
    assert (profile.profile_key, profile.image_type) == (1, "RAW")


@pytest.mark.parametrize(
    "payload", [{"templates": [{"id": 1, "is_default": True}]}, [{"id": 1, "is_default": True}]]
)
async def test_sky_templates_in_either_shape(
    api: ApiDouble, client: ImagenClient, payload: object
) -> None:
    api.answer("GET", "/v1/projects/sky_replacement/templates", Answer(200, {"data": payload}))
    [template] = await client.sky_templates()
    assert (template.id, template.is_default) == (1, True)


async def test_upload_links_must_cover_every_file(api: ApiDouble, client: ImagenClient) -> None:
    api.answer(
        "POST",
        f"/v1/projects/{UUID}/get_temporary_upload_links",
        Answer(200, {"files_list": [{"file_name": "a.nef", "upload_link": "http://s/a"}]}),
    )
    with pytest.raises(ImagenError, match=r"no upload link for b\.nef"):
        await client.upload_links(UUID, [("a.nef", "bWQ1"), ("b.nef", None)])
    assert api.calls[0].json() == {
        "files_list": [{"file_name": "a.nef", "md5": "bWQ1"}, {"file_name": "b.nef"}]
    }


async def test_download_links_keep_file_names_under_either_key(
    api: ApiDouble, client: ImagenClient
) -> None:
    links = [
        {"file_name": "a.xmp", "download_link": "http://s/a"},
        {"file_name": "b.dng", "upload_link": "http://s/b"},  # the docs' typo
    ]
    api.answer(
        "GET",
        f"/v1/projects/{UUID}/edit/get_temporary_download_links",
        Answer(200, {"data": {"files_list": links}}),
    )
    got = await client.edit_download_links(UUID)
    assert [(link.file_name, link.url) for link in got] == [
        ("a.xmp", "http://s/a"),
        ("b.dng", "http://s/b"),
    ]


async def test_a_non_json_success_is_a_clear_error(api: ApiDouble, client: ImagenClient) -> None:
    api.answer("GET", "/v1/profiles", Answer(200, b"<html>captive portal</html>"))
    with pytest.raises(ImagenError, match="not JSON: <html>captive portal"):
        await client.profiles()


async def test_an_undecodable_body_is_a_clear_error(api: ApiDouble, client: ImagenClient) -> None:
    api.answer("GET", "/v1/profiles", Answer(200, b"not gzip", {"Content-Encoding": "gzip"}))
    with pytest.raises(ImagenError, match="DecodingError") as caught:
        await client.profiles()
    assert caught.value.retryable is False
    assert len(api.calls) == 1


async def test_an_unexpected_shape_is_a_clear_error(api: ApiDouble, client: ImagenClient) -> None:
    api.answer("GET", f"/v1/projects/{UUID}/export/status", Answer(200, {"progress": 3}))
    with pytest.raises(ImagenError, match="the export status in an unexpected shape"):
        await client.export_status(UUID)


async def test_multipart_part_lists_are_checked(api: ApiDouble, client: ImagenClient) -> None:
    api.answer(
        "POST",
        f"/v1/i2i/projects/{UUID}/multipart_uploads",
        Answer(
            200,
            {
                "upload_id": "up1",
                "key": "k",
                "parts": [{"part_number": 1, "upload_url": "http://s/1"}],
            },
        ),
    )
    with pytest.raises(ImagenError, match=r"not parts 1\.\.2"):
        await client.i2i_multipart_create(UUID, "big.jpg", 2)
    upload = await client.i2i_multipart_create(UUID, "big.jpg", 1)
    assert upload.part_urls() == {1: "http://s/1"}


async def test_smart_editing_paths_and_bodies(api: ApiDouble, client: ImagenClient) -> None:
    api.answer("POST", "/v1/i2i/projects/", Answer(200, {"project_uuid": UUID}))
    api.answer("POST", f"/v1/i2i/projects/{UUID}/edit", Answer(200, {"message": "sent"}))
    api.answer("POST", f"/v1/i2i/projects/{UUID}/multipart_uploads/up/1/complete", Answer(204))
    api.answer("DELETE", f"/v1/i2i/projects/{UUID}/multipart_uploads/up/1", Answer(204))
    api.answer("GET", f"/v1/i2i/projects/{UUID}", Answer(200, {"status": "IN_PROGRESS"}))
    assert await client.i2i_create_project() == UUID
    await client.i2i_edit(UUID, None)
    await client.i2i_multipart_complete(UUID, "up/1", "big.jpg")
    await client.i2i_multipart_abort(UUID, "up/1", "projects/x/big.jpg")
    status = await client.i2i_status(UUID)
    assert status.normalized == "in progress"
    create, edit, complete, abort, _ = api.calls
    assert create.json() == {}
    assert edit.headers["Content-Type"] == "application/json"
    assert complete.json() == {"file_name": "big.jpg"}
    assert complete.raw_path.endswith("/multipart_uploads/up%2F1/complete")
    assert (abort.method, abort.json()) == ("DELETE", {"key": "projects/x/big.jpg"})


def test_keys_that_cannot_work_are_refused_without_showing_them() -> None:
    with pytest.raises(ImagenValidationError, match="from the config file is empty"):
        ImagenClient("http://127.0.0.1:1/v1", "  ", key_source="the config file")
    with pytest.raises(ImagenValidationError) as caught:
        ImagenClient("http://127.0.0.1:1/v1", "abc\r\nX-Evil: 1", key_source="the config file")
    assert "line breaks" in str(caught.value)
    assert "abc" not in str(caught.value)
    pasted = "\u201csk-live-abc\u201d"  # copied with typographic quotes
    with pytest.raises(ImagenValidationError, match="ASCII letters") as caught:
        ImagenClient("http://127.0.0.1:1/v1", pasted, key_source="the config file")
    assert "sk-live-abc" not in repr(caught.value)


def test_photography_type_enum_is_accepted_as_is() -> None:
    assert PhotographyType.parse(PhotographyType.SPORTS) is PhotographyType.SPORTS
