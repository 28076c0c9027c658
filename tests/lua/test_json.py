"""Json.lua, run in Lua 5.1 inside the fake Lightroom, against Python's json."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lua.lightroom import Lightroom

LR = Lightroom({"photos": []})
JSON = LR.require("Json")
# Lua in, Lua out: decode Python's text, encode it again, hand the text back to Python.
ROUND_TRIP = LR.lua.eval(
    "function(Json, text, keepNull) local v, err = Json.decode(text, keepNull) "
    "if v == nil then return nil, err end return Json.encode(v), nil end"
)
ENCODE_STRING = LR.lua.eval("function(Json, s) return Json.encode(s) end")

# Integers stay exact within +-2^53 (Lua 5.1 numbers are doubles).
ints = st.integers(min_value=-(2**53), max_value=2**53)
floats = st.floats(allow_nan=False, allow_infinity=False)
text = st.text(st.characters(codec="utf-8"))  # every code point, astral ones included
scalars = st.none() | st.booleans() | ints | floats | text
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=30,
)


def lua_round_trip(value: Any, keep_null: bool = True, ensure_ascii: bool = True) -> Any:
    out, err = ROUND_TRIP(JSON, json.dumps(value, ensure_ascii=ensure_ascii), keep_null)
    assert out is not None, err
    assert out.isascii()
    return json.loads(out)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values; 5.0 and 5 are one number, as in Python's own comparison."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) or (isinstance(a, int | float) and isinstance(b, int | float))


@settings(max_examples=300, deadline=None)
@given(values, st.booleans())
def test_round_trip_with_python_json(value: Any, ensure_ascii: bool) -> None:
    back = lua_round_trip(value, ensure_ascii=ensure_ascii)
    assert back == value and same(back, value)


@settings(max_examples=200, deadline=None)
@given(ints)
def test_integers_stay_integers(n: int) -> None:
    back = lua_round_trip({"n": n, "list": [n]})
    assert type(back["n"]) is int and back == {"n": n, "list": [n]}


def test_empty_array_and_empty_object_keep_their_kind() -> None:
    value = {"a": [], "o": {}, "nested": [[], {}, [{}]]}
    assert lua_round_trip(value) == value
    assert json.dumps(lua_round_trip(value), sort_keys=True) == json.dumps(value, sort_keys=True)


def test_null_members_are_dropped_by_default_and_array_nulls_kept() -> None:
    out, _ = ROUND_TRIP(JSON, '{"a": null, "b": [null, 1]}', False)
    assert json.loads(out) == {"b": [None, 1]}


def test_astral_characters_are_written_as_surrogate_pairs() -> None:
    out = ENCODE_STRING(JSON, "Strand 🌅 婚礼 Jörg")
    assert out == '"Strand \\ud83c\\udf05 \\u5a5a\\u793c J\\u00f6rg"'
    assert json.loads(out) == "Strand 🌅 婚礼 Jörg"


def test_windows_paths_and_control_characters_survive() -> None:
    value = ["C:\\Users\\Jörg\\Bilder\\IMG_1.CR2", "tab\there", "nl\n", "\x00\x1f\x7f", '"q"', "/"]
    assert lua_round_trip(value) == value


@pytest.mark.parametrize(
    "bad",
    [
        '{"a":1',
        "[1,]",
        "01",
        "1.",
        ".5",
        "1e",
        '"\\ud800"',
        '"\\udc00x"',
        '"\\x"',
        "nul",
        '{"a" 1}',
        "[1] 2",
        '"tab\there"',
        "",
        "  ",
    ],
)
def test_malformed_json_is_refused_with_a_position(bad: str) -> None:
    out, err = ROUND_TRIP(JSON, bad, True)
    assert out is None
    assert "Json:" in err


def test_deep_nesting_is_refused_not_a_crash() -> None:
    out, err = ROUND_TRIP(JSON, "[" * 500 + "]" * 500, True)
    assert out is None and "nested too deeply" in err


@pytest.mark.parametrize("bad", ["0/0", "1/0", "{[1]=1, a=2}", "{[1]=1, [3]=3}", "'\\255'"])
def test_values_json_cannot_express_are_refused(bad: str) -> None:
    ok, err = LR.lua.eval(f"function(Json) return pcall(Json.encode, {bad}) end")(JSON)
    assert ok is False and "Json:" in err
