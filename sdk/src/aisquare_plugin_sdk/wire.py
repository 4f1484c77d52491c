"""The worker's JSON codec for the protocol: `json.loads`/`json.dumps` without importing `json` at start.

`import json` costs a cold sandbox ~6 ms, most of it `re` (with `enum`, `functools`, `collections`), which the
package imports for its pure-Python fallback and whitespace regex. The work itself is done by CPython's C
accelerator `_json` whichever way: `json` calls `_json.make_scanner`, `_json.make_encoder` and
`_json.encode_basestring_ascii` exactly as below. So the worker calls them directly and answers like `json` does:

- `loads(data)`: one JSON document (str, or UTF-8 bytes), surrounded by JSON whitespace only; NaN and +-Infinity are
  read as floats, like `json.loads`. A malformed document raises `json.JSONDecodeError` (`_json` imports
  `json.decoder` for it, so the import is paid only on that path). Bytes are decoded as UTF-8 (`surrogatepass`, as
  `json` does); `json.loads` would also guess UTF-16/32 and a BOM, which the protocol never sends.
- `dumps(value)`: compact (`","` and `":"`), ASCII-only, circular references refused (ValueError), NaN and
  +-Infinity refused (ValueError), keys that are not str/int/float/bool/None refused (TypeError), as
  `json.dumps(value, separators=(",", ":"), allow_nan=False)`. A fresh encoder per call: the C encoder keeps the ids
  of the containers it is in, and an encoding that failed half-way would leave them behind.

Without `_json` (another Python implementation) this module is `json` itself. Standard library only; the host does
not use it (it keeps `json` and its own size caps).
"""

try:
    from _json import encode_basestring_ascii, make_encoder, make_scanner
except ImportError:  # pragma: no cover - not CPython: the standard module, at its usual cost
    import json as _json_module

    def loads(data):
        return _json_module.loads(data)

    def dumps(value):
        return _json_module.dumps(value, separators=(",", ":"), allow_nan=False)

else:
    _WHITESPACE = " \t\n\r"  # JSON's four whitespace characters (json.decoder.WHITESPACE)
    _CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}

    class _ScannerSettings:
        """What `_json.make_scanner` reads from a `json.JSONDecoder()` with default arguments."""

        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = _CONSTANTS.__getitem__

    _scan_once = make_scanner(_ScannerSettings())

    def _error(message, document, position):
        from json import JSONDecodeError  # only for a malformed document: it imports `re`

        return JSONDecodeError(message, document, position)

    def loads(data):
        """`json.loads(data)` for one protocol message (see the module's docstring for bytes)."""
        if isinstance(data, (bytes, bytearray)):
            data = data.decode("utf-8", "surrogatepass")
        elif not isinstance(data, str):
            raise TypeError(f"the JSON object must be str, bytes or bytearray, not {type(data).__name__}")
        start = len(data) - len(data.lstrip(_WHITESPACE))
        try:
            value, end = _scan_once(data, start)
        except StopIteration as exc:
            raise _error("Expecting value", data, exc.value) from None
        rest = data[end:].lstrip(_WHITESPACE)
        if rest:
            raise _error("Extra data", data, len(data) - len(rest))
        return value

    def _default(value):
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")

    def dumps(value):
        """`json.dumps(value, separators=(",", ":"), allow_nan=False)`."""
        if isinstance(value, str):
            return encode_basestring_ascii(value)
        # make_encoder(markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys,
        #              allow_nan): the arguments json.JSONEncoder.iterencode passes for these settings.
        encode = make_encoder({}, _default, encode_basestring_ascii, None, ":", ",", False, False, False)
        return "".join(encode(value, 0))
