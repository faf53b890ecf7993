"""An answer, not a silent hang-up, for a request line or header line over Twisted's 16 KB limit.

Daphne serves HTTP with Twisted's ``HTTPChannel``, a ``LineReceiver`` whose ``MAX_LENGTH``
(16,384 bytes) caps each request and header line. Past it, ``LineReceiver.lineLengthExceeded``
closes the connection without a word, so a client with a long URL sees a dropped connection.
Daphne builds the channel itself and offers no hook for it, so ``install`` gives the class the
answer HTTP defines: ``414`` for the request line, ``431`` for a header line, in the API's JSON
error shape, then the connection closes. Imported by ``config.asgi``, which Daphne loads before
it starts listening.
"""

import json

from twisted.web.http import HTTPChannel

from assistant.messages import error

URI_TOO_LONG = (b"414 URI Too Long", error("uri_too_long", "The URL is longer than 16,384 bytes."))
HEADER_TOO_LONG = (
    b"431 Request Header Fields Too Large",
    error("header_too_long", "A header line is longer than 16,384 bytes."),
)


def _answer_line_too_long(channel: HTTPChannel, line: bytes) -> None:
    # Twisted keeps "still reading the request line" in a name-mangled attribute.
    reading_request_line = getattr(channel, "_HTTPChannel__first_line", True)
    status, body = URI_TOO_LONG if reading_request_line else HEADER_TOO_LONG
    payload = json.dumps(body).encode()
    channel.transport.write(
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    channel.transport.loseConnection()


def install() -> None:
    """Answer over-long lines on every HTTP connection this process serves."""
    HTTPChannel.lineLengthExceeded = _answer_line_too_long
