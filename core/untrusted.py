"""Reading untrusted input: JSON within bounds, and text the databases can store.

The one definition used by every boundary: the chat protocol (HTTP bodies, WebSocket frames, query
strings) and the catalog importers. Python's ``json`` alone turns hostile documents into crashes
(``RecursionError`` on deep nesting, ``ValueError`` on integers over 4,300 digits) and accepts text
that no database stores (NUL for PostgreSQL, lone surrogates for any UTF-8 encoder).
"""

import json
import math
import re
from typing import Any

# Client frames and catalog rows are a few levels deep; far below the parser's recursion limit.
MAX_DEPTH = 16
# Prices, counts and ratings need far fewer characters; longer numbers only cost time to convert.
MAX_NUMBER_CHARS = 40
# NUL (PostgreSQL text cannot hold it) and UTF-16 surrogates (never valid alone in UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class UntrustedInputError(ValueError):
    """Input refused at the boundary: ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def storable(text: str) -> bool:
    """Whether every database and encoder the app uses can hold ``text``."""
    return _UNSTORABLE.search(text) is None


def check_text(text: str, name: str) -> str:
    """``text`` unchanged, or ``UntrustedInputError`` if it holds NUL or a lone surrogate."""
    if not storable(text):
        raise UntrustedInputError(
            "invalid_characters", f"{name} contains a NUL character or an unpaired surrogate."
        )
    return text


def loads(raw: str | bytes) -> Any:
    """Decode a JSON document, refusing deep nesting, oversized numbers and unstorable text.

    Raises ``UntrustedInputError`` with code ``invalid_json``, ``too_deep``, ``number_too_large``
    or ``invalid_characters``.
    """
    try:
        document = json.loads(raw, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as error:
        raise UntrustedInputError("invalid_json", f"{error.msg} at column {error.colno}.") from None
    except UnicodeDecodeError:
        raise UntrustedInputError("invalid_json", "The bytes are not UTF-8.") from None
    check_document(document)
    return document


def check_document(document: Any) -> None:
    """Refuse nesting over ``MAX_DEPTH`` and unstorable keys or strings anywhere in ``document``
    (decoded JSON, or any structure of dicts, lists and scalars); walks without recursion."""
    pending = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, str):
            check_text(value, "A string")
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    check_text(key, "A key")
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _too_deep() -> UntrustedInputError:
    return UntrustedInputError("too_deep", f"JSON may nest at most {MAX_DEPTH} levels deep.")


def _number_chars(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise UntrustedInputError("number_too_large", f"Numbers are limited to {MAX_NUMBER_CHARS} digits.")
    return text


def _integer(text: str) -> int:
    return int(_number_chars(text))


def _float(text: str) -> float:
    number = float(_number_chars(text))
    if not math.isfinite(number):
        raise UntrustedInputError("number_too_large", f"{text} is too large for a number.")
    return number


def _constant(name: str) -> None:
    raise UntrustedInputError("invalid_json", f"{name} is not a JSON number.")
