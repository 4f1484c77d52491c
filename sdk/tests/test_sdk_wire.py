"""The worker's JSON codec (aisquare_plugin_sdk.wire) answers exactly as `json` does, on what a hostile plugin can
hand it to send (dumps) and on malformed or odd documents (loads), and imports neither `json` nor `re` to do it."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from aisquare_plugin_sdk import wire

SDK_SRC = Path(wire.__file__).resolve().parents[1]


def reference_dumps(value):
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def outcome(function, value):
    """The result, or the exception's type and message: both codecs must agree on either."""
    try:
        return "ok", function(value)
    except RecursionError:
        return "raised", RecursionError, ""
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return "raised", type(exc), str(exc)


class Sneaky(str):
    def __str__(self):
        return "forged"

    def __repr__(self):
        return '"forged"'


class LoudInt(int):
    def __repr__(self):
        return "1e999"

    __str__ = __repr__


class LoudFloat(float):
    def __repr__(self):
        return "NaN"


class LyingDict(dict):
    def items(self):
        return [("forged", 1)]


class Unserializable:
    pass


def _circular_list():
    value = [1, 2]
    value.append(value)
    return value


def _circular_dict():
    value = {"a": 1}
    value["self"] = {"again": value}
    return value


def _deep(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_VALUES = [
    {"type": "result", "id": 1, "ok": True, "value": [1, 2.5, None, True, False, "x"]},
    "plain string", "é\u2028\x00\"\\\n", "\ud800 lone surrogate", "\U0001f600",
    {3: "int key", 2.5: "float key", True: "bool key", None: "None key"},
    {(1, 2): "tuple key"}, {Unserializable(): 1},
    float("nan"), float("inf"), -float("inf"), [1, float("nan")], {"x": {"y": float("inf")}},
    10 ** 4000, 10 ** 5000, -(10 ** 5000),
    Sneaky("real"), {Sneaky("key"): Sneaky("value")}, LoudInt(7), LoudFloat(0.5), LyingDict(a=2), [LoudInt(3)],
    Unserializable(), [1, Unserializable()], {"a": object()}, {"a": b"bytes"}, {"a": {1, 2}}, (1, 2, (3,)),
    _circular_list(), _circular_dict(), _deep(100), _deep(200_000),
    1e308, 5e-324, -0.0, 0, -1, 2 ** 63, "",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
def test_dumps_answers_like_json_on_hostile_values(value):
    assert outcome(wire.dumps, value) == outcome(reference_dumps, value)


def test_a_failed_encoding_leaves_nothing_behind():
    shared = [1, 2]
    # The C encoder remembers the containers it is inside; a failure half-way must not make the next value, which
    # holds the same list, look circular.
    with pytest.raises(TypeError):
        wire.dumps({"a": shared, "b": [shared, Unserializable()]})
    with pytest.raises(ValueError, match="Circular reference"):
        wire.dumps(_circular_list())
    assert wire.dumps({"again": shared, "twice": [shared, shared]}) == '{"again":[1,2],"twice":[[1,2],[1,2]]}'


DOCUMENTS = [
    '{"type":"call","id":1,"kind":"function","name":"echo","args":[1],"kwargs":{}}',
    ' \t\r\n{"a": [1, 2.5e3, -0, 1E-2, true, false, null]} \n', "[]", "{}", '""', "0", "-1.5", "1" * 5000,
    "NaN", "-Infinity", "[Infinity, NaN]", '"\\ud800"', '"\\ud83d\\ude00"', '"\\u00e9\\n\\t\\""', '"é"',
    '{"a": 1, "a": 2}', '{"__proto__": 1}',
    "", " ", "\n", "[1] x", "[1]\n[2]", "{} {}", "[1,]", "{,}", '{"a" 1}', "{'a': 1}", "[1 2]", "tru", "nul",
    '"unterminated', '"\\x41"', '"\\u12"', '"tab\there"', '"new\nline"', "\ufeff[1]", "[1]\x00", "\x00",
    "01", "1.", ".5", "+1", "-", "1e", "0x10", "[" * 100 + "]" * 100, "[" * 200_000, "[" * 200_000 + "]" * 200_000,
    '{"a":' * 100_000, "\u00a0[1]", "[1]\u3000", "[1]\v", "\f[1]",
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_loads_answers_like_json_on_odd_and_malformed_documents(document):
    for data in (document, document.encode("utf-8", "surrogatepass")):
        ours, theirs = outcome(wire.loads, data), outcome(json.loads, data)
        if ours[0] == theirs[0] == "ok":
            assert repr(ours[1]) == repr(theirs[1])  # repr: NaN != NaN
        elif ours != theirs:
            # The only difference allowed: a byte-order mark, which json reports (str) or skips (bytes, utf-8-sig)
            # and the codec refuses like any other stray character (the protocol never sends one).
            assert document.startswith("\ufeff") and ours[:2] == ("raised", json.JSONDecodeError)


def test_loads_raises_json_decode_error_at_the_same_place():
    with pytest.raises(json.JSONDecodeError) as ours:
        wire.loads('{"a": 1}  \n  junk')
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads('{"a": 1}  \n  junk')
    assert (ours.value.msg, ours.value.pos, ours.value.lineno, ours.value.colno) == (
        theirs.value.msg, theirs.value.pos, theirs.value.lineno, theirs.value.colno)


def test_loads_refuses_what_is_not_text_like_json():
    for value in (None, 1, [b"[]"], memoryview(b"[]")):
        assert outcome(wire.loads, value) == outcome(json.loads, value)
    with pytest.raises(UnicodeDecodeError):
        wire.loads(b'"\xff"')


def test_round_trip_of_a_protocol_message():
    message = {"type": "request", "id": 7, "method": "storage.set", "params": {"key": "k", "value": {"é": [1.5]}}}
    assert wire.loads(wire.dumps(message).encode()) == message
    assert math.isnan(wire.loads(b"NaN"))


def test_the_codec_imports_neither_json_nor_re():
    # The SDK package's __init__ is skipped as the sandbox's boot script skips it: only the module itself.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('wire', {str(SDK_SRC / 'aisquare_plugin_sdk' / 'wire.py')!r})\n"
        "before = set(sys.modules)\n"
        "wire = importlib.util.module_from_spec(spec); spec.loader.exec_module(wire)\n"
        "wire.loads(wire.dumps({'a': [1, 'x']}))\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['_json']"
