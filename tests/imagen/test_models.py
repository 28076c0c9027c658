"""Edit options are checked before any request; responses are read leniently."""

from __future__ import annotations

import pytest

from bridge.imagen import (
    EditOptions,
    FileLink,
    I2IEditOptions,
    ImagenValidationError,
    PartLink,
    PhotographyType,
    Profile,
    Status,
)
from bridge.imagen.wire import error_message, unwrap


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"crop": True, "portrait_crop": True},
            "Choose at most one of crop, portrait_crop and headshot_crop "
            "(got crop and portrait_crop).",
        ),
        (
            {"crop": True, "portrait_crop": True, "headshot_crop": True},
            "(got crop and portrait_crop and headshot_crop).",
        ),
        (
            {"straighten": True, "perspective_correction": True},
            "Choose either straighten or perspective_correction, not both.",
        ),
        (
            {"crop_aspect_ratio": "4X5"},
            "crop_aspect_ratio is only used with crop, portrait_crop or headshot_crop; "
            "turn one of them on.",
        ),
        (
            {"crop": True, "crop_aspect_ratio": "16:9"},
            "crop_aspect_ratio must be one of 2X3, 4X5, 5X7 (got '16:9')",
        ),
        (
            {"sky_replacement_template_id": 2},
            "sky_replacement_template_id is only used with sky_replacement; turn it on.",
        ),
        (
            {"sky_replacement": False, "sky_replacement_template_id": 2},
            "sky_replacement_template_id is only used with sky_replacement; turn it on.",
        ),
        (
            {"hdr_output_compression": "LOSSLESS"},
            "hdr_output_compression is only used with hdr_merge; turn it on.",
        ),
        (
            {"hdr_merge": True, "hdr_output_compression": "ZIP"},
            "hdr_output_compression must be one of LOSSY, LOSSLESS (got 'ZIP')",
        ),
        ({"crop_tool": True}, "Unknown option 'crop_tool'. Valid options: crop, portrait_crop"),
        ({"callback_url": "ftp://x/y"}, "callback_url must be an absolute http(s) URL"),
        ({"crop": "sometimes"}, "crop: Input should be a valid boolean"),
        ({"sky_replacement": True, "sky_replacement_template_id": 0}, "greater than or equal"),
    ],
)
def test_every_invalid_combination_gets_a_clear_message(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ImagenValidationError) as caught:
        EditOptions.parse(options)
    assert message in str(caught.value)
    assert caught.value.status is None
    assert caught.value.retryable is False


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ImagenValidationError) as caught:
        EditOptions.parse({"crop": True, "headshot_crop": True, "hdr_output_compression": "LOSSY"})
    assert "Choose at most one" in str(caught.value)
    assert "hdr_output_compression is only used with hdr_merge" in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"crop": True, "portrait_crop": False, "headshot_crop": False},  # only True counts
        {"straighten": True, "perspective_correction": False},
        {"portrait_crop": True, "crop_aspect_ratio": "4x5"},
        {"headshot_crop": True, "crop_aspect_ratio": "5X7"},
        {"sky_replacement": True, "sky_replacement_template_id": 3},
        {"hdr_merge": True, "hdr_output_compression": "lossless"},
        {"export": True, "callback_url": "https://example.com/hook/secret"},
    ],
)
def test_valid_combinations_pass_and_serialise_without_nulls(options: dict[str, object]) -> None:
    parsed = EditOptions.parse(options)
    sent = parsed.to_api()
    assert None not in sent.values()
    assert set(sent) == set(options)


def test_enum_values_are_sent_in_the_apis_spelling() -> None:
    sent = EditOptions.parse({"crop": True, "crop_aspect_ratio": "2x3"}).to_api()
    assert sent == {"crop": True, "crop_aspect_ratio": "2X3"}


def test_options_are_immutable_so_validation_cannot_be_bypassed() -> None:
    options = EditOptions(crop=True)
    with pytest.raises(ValueError, match="frozen"):
        options.portrait_crop = True  # type: ignore[misc]


def test_i2i_options_check_the_sky_template_too() -> None:
    with pytest.raises(ImagenValidationError, match="only used with sky_replacement"):
        I2IEditOptions.parse({"sky_replacement_template_id": 1})
    with pytest.raises(ImagenValidationError, match="Unknown option 'crop'"):
        I2IEditOptions.parse({"crop": True})
    assert I2IEditOptions.parse({"hdr_merge": True}).to_api() == {"hdr_merge": True}


def test_photography_types_are_forgiving_about_spelling_and_list_the_valid_ones() -> None:
    assert PhotographyType.parse("wedding") is PhotographyType.WEDDING
    assert PhotographyType.parse("Real Estate") is PhotographyType.REAL_ESTATE
    assert PhotographyType.parse("family-newborn") is PhotographyType.FAMILY_NEWBORN
    with pytest.raises(ImagenValidationError) as caught:
        PhotographyType.parse("astro")
    assert str(caught.value) == (
        "Unknown photography type 'astro'. Valid types: NO_TYPE, OTHER, PORTRAITS, WEDDING, "
        "REAL_ESTATE, LANDSCAPE_NATURE, EVENTS, FAMILY_NEWBORN, BOUDOIR, SPORTS, SCHOOL."
    )


@pytest.mark.parametrize(
    ("raw", "completed", "failed"),
    [
        ("Completed", True, False),
        ("COMPLETED", True, False),
        ("  completed\n", True, False),
        ("Failed", False, True),
        ("FAILED", False, True),
        ("In Progress", False, False),
        ("IN_PROGRESS", False, False),
        ("Pending", False, False),
        ("Something New", False, False),
    ],
)
def test_status_comparisons_ignore_case_and_whitespace(
    raw: str, completed: bool, failed: bool
) -> None:
    status = Status(status=raw)
    assert (status.is_completed, status.is_failed, status.is_terminal) == (
        completed,
        failed,
        completed or failed,
    )


def test_status_details_of_any_shape_become_text() -> None:
    status = Status.model_validate({"status": "Failed", "details": {"failed": ["a.nef"]}})
    assert status.details == '{"failed": ["a.nef"]}'


def test_links_keep_their_file_name_under_either_key_and_hide_the_url_in_repr() -> None:
    down = FileLink.model_validate({"file_name": "a.xmp", "download_link": "https://s/a?sig=1"})
    up = FileLink.model_validate({"file_name": "a.nef", "upload_link": "https://s/b?sig=2"})
    assert (down.file_name, down.url) == ("a.xmp", "https://s/a?sig=1")
    assert (up.file_name, up.url) == ("a.nef", "https://s/b?sig=2")
    assert "sig" not in repr(down)
    part = PartLink.model_validate({"part_number": 1, "upload_url": "https://s/p?sig=3"})
    assert "sig" not in repr(part)


def test_profiles_need_only_a_key() -> None:
    profile = Profile.model_validate({"profile_key": "5700", "extra": 1})
    assert profile.profile_key == 5700
    assert profile.profile_name is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"data": {"project_uuid": "u"}}, {"project_uuid": "u"}),
        ({"data": [1, 2]}, [1, 2]),
        ({"data": {"x": 1}, "extra": 2}, {"data": {"x": 1}, "extra": 2}),
        ({"project_uuid": "u"}, {"project_uuid": "u"}),
        ([{"data": 1}], [{"data": 1}]),
    ],
)
def test_only_a_sole_data_key_is_unwrapped(payload: object, expected: object) -> None:
    assert unwrap(payload) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "Project not found"}}', "Project not found"),
        (b'{"error": "Quota exceeded"}', "Quota exceeded"),
        (b'{"detail": "Not authenticated"}', "Not authenticated"),
        (
            b'{"detail": [{"loc": ["body", "profile_key"], "msg": "field required"}]}',
            "profile_key: field required",
        ),
        (b'{"data": {"error": {"message": "wrapped"}}}', "wrapped"),
        (b'{"message": "plain"}', "plain"),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b'{"unexpected": true}', '{"unexpected": true}'),
        (b"", None),
    ],
)
def test_error_messages_are_found_in_every_known_shape(body: bytes, message: str | None) -> None:
    assert error_message(body) == message


def test_huge_error_bodies_are_shortened() -> None:
    text = error_message(b"x" * 10_000)
    assert text is not None
    assert len(text) == 500
