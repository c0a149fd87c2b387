"""Text from Azure is untrusted: how it is shown without letting it act on a terminal.

A connection's description and a private endpoint's name are chosen by whoever created the
endpoint, possibly a stranger; az echoes the service's messages. Every character that
``str.isprintable`` refuses - C0 and C1 controls (ESC, BEL, CR, TAB, newline), DEL, format
characters such as the bidi overrides (U+202E) and invisible tags, line and paragraph
separators, non-ASCII spaces - is shown escaped, the way Python's ``repr`` shows it (``\\x1b``,
``\\t``, ``\\n``, ``\\u202e``), so one line of output stays one line and what is seen is what is
there. The rule is repr's, like ``azpe.errors.shown``; a backslash is left as it is.
"""

from __future__ import annotations

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every non-printable character escaped visibly (for tables, TSV, CSV,
    error lines, prompts, logs and the progress display)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in text)


def _json_escaped(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes a character beyond the BMP as its UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_visible(serialised: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the non-printable
    characters that json leaves raw (C1 controls, bidi overrides, separators) written as
    ``\\uXXXX`` escapes: the same JSON value - every parser reads the exact text back - that
    cannot act on a terminal. Outside strings JSON holds only printable ASCII and the
    newlines of indentation, which stay."""
    if serialised.isprintable():
        return serialised
    return "".join(ch if ch.isprintable() or ch == "\n" else _json_escaped(ch) for ch in serialised)
