"""Which product image and page URLs a page may show: the one definition of a safe link.

A safe link is a path on this site (``/media/a.png``) or an absolute ``https:`` URL. Importers
apply it where links come in, and the product card and the admin where they go out, so a link
stored before this rule existed (or typed in by hand) never reaches a page either.
"""

from urllib.parse import urlsplit

# Browsers drop tabs and newlines inside a URL and read "\" as "/", so "/\t/evil.example" and
# "/\evil.example" both mean "//evil.example", another site: any control character or backslash
# makes a link unsafe.
_UNSAFE_CHARACTERS = frozenset(chr(code) for code in (*range(0x20), 0x7F)) | {"\\"}


def safe_url(url: str) -> str:
    """``url`` if a page may link to or load it, with ``http:`` upgraded to ``https:``; otherwise ``""``.

    Kept: site paths (``/p/1``, not the protocol-relative ``//host/p/1``) and ``https:`` URLs with a
    host. Refused: every other scheme (``javascript:``, ``data:``, ``ftp:``), relative paths without
    a leading ``/``, and anything holding a control character or a backslash.
    """
    url = url.strip(" ")
    if not url or _UNSAFE_CHARACTERS.intersection(url):
        return ""
    if url.startswith("/"):
        return "" if url.startswith("//") else url
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[" in the host
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return ""
    return "https" + url[len(scheme) :] if scheme == "http" else url
