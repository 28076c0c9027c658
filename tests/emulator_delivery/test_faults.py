"""Injected faults on the delivery emulators answer in each service's own words."""

from __future__ import annotations

from typing import Any

import httpx

from tests.emulator_delivery.support import imagekit, imgwire, jpeg_bytes, records


async def test_injected_statuses_use_each_services_error_shape(delivery_factory: Any) -> None:
    emulator = await delivery_factory(rate_503=1.0, retry_after_s=2)
    async with imgwire(emulator) as client:
        answer = await client.get("/")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
        assert set(answer.json()) == {"detail", "error_type"}
    async with imagekit(emulator) as client:
        answer = await client.get("/v1/files")
        assert answer.status_code == 503 and set(answer.json()) == {"message", "help"}
    async with httpx.AsyncClient(headers={"x-api-key": "k"}) as client:
        answer = await client.get(emulator.base_url + "/profiles")
        assert answer.status_code == 503 and "error" in answer.json()


async def test_a_lost_answer_still_took_effect(delivery_factory: Any) -> None:
    """drop_response_rate: the work is done, the client hears nothing."""
    emulator = await delivery_factory(drop_response_rate=1.0)
    async with imagekit(emulator) as client:
        try:
            await client.post(
                "/api/v1/files/upload",
                data={"fileName": "a.jpg"},
                files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")},
            )
            raise AssertionError("the answer should have been lost")
        except httpx.TransportError:
            pass
    assert len((await records(emulator, "imagekit"))["uploads"]) == 1


async def test_a_dropped_upload_stores_nothing(delivery_factory: Any) -> None:
    emulator = await delivery_factory(drop_upload_rate=1.0)
    data = jpeg_bytes() * 20
    async with imgwire(emulator) as client:
        created = await client.post(
            "/standard_upload",
            json={"file_name": "a.jpg", "mime_type": "image/jpeg", "content_length": len(data)},
        )
        async with httpx.AsyncClient() as plain:
            try:
                await plain.put(
                    created.json()["upload_url"],
                    content=data,
                    headers={"Content-Type": "image/jpeg"},
                )
                raise AssertionError("the upload should have been cut")
            except httpx.TransportError:
                pass
        image = (await client.get(f"/{created.json()['image']['id']}")).json()
        assert image["status"] == "PENDING" and image["can_upload"] is True
    assert (await records(emulator, "imgwire"))["uploads"] == []
