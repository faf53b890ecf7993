"""The normalised product record every importer produces, and its validation."""

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.links import safe_url
from catalog.vocabulary import normalise_colors, normalise_materials
from core.untrusted import UntrustedInputError, check_document

CATEGORY_SEPARATOR = " > "
# Attributes holding vocabulary words; importers snap them to canonical values.
MULTI_VALUED_ATTRIBUTES = ("color", "material", "feature", "compatible_with")


class RowError(Exception):
    """A row that cannot become a product; the message says why."""


@dataclass(frozen=True)
class ProductRecord:
    """One product as read from a catalog file, validated and normalised.

    ``categories`` holds category paths, each a tuple of names from the root
    (``("Furniture", "Sofas")``).
    """

    sku: str
    title: str
    price: Decimal
    currency: str = "USD"
    description: str = ""
    brand: str = ""
    categories: tuple[tuple[str, ...], ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    image_url: str = ""
    url: str = ""
    rating: float | None = None
    rating_count: int = 0
    stock: int | None = None

    def content_hash(self) -> str:
        """A stable digest of every field: equal digests mean nothing changed."""
        payload = asdict(self)
        payload["price"] = str(self.price)
        encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(encoded.encode()).hexdigest()


def parse_category_path(value: str) -> tuple[str, ...]:
    """``"Furniture > Sofas"`` -> ``("Furniture", "Sofas")``."""
    return tuple(part.strip() for part in str(value).split(CATEGORY_SEPARATOR.strip()) if part.strip())


def record_from_mapping(data: dict[str, Any]) -> ProductRecord:
    """Validate a generic product mapping (the ``jsonl``/``csv`` field set).

    Only ``sku``, ``title`` and ``price`` are required. Raises ``RowError``.
    """
    if not isinstance(data, dict):
        raise RowError("expected a JSON object")
    check_row(data)
    sku = _required_text(data, "sku", max_length=64)
    title = _required_text(data, "title", max_length=300)
    categories = data.get("categories") or []
    if isinstance(categories, str):
        categories = [categories]
    if not isinstance(categories, list):
        raise RowError("categories must be a list of category paths")
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise RowError("attributes must be an object")
    return ProductRecord(
        sku=sku,
        title=title,
        price=parse_price(data.get("price")),
        currency=_currency(data.get("currency") or "USD"),
        description=_text(data.get("description")),
        brand=_text(data.get("brand"))[:120],
        categories=tuple(path for path in map(parse_category_path, categories) if path),
        attributes=normalise_attributes(attributes),
        image_url=_url(data.get("image_url"), "image_url"),
        url=_url(data.get("url"), "url"),
        rating=_rating(data.get("rating")),
        rating_count=_non_negative_int(data.get("rating_count"), "rating_count") or 0,
        stock=_non_negative_int(data.get("stock"), "stock"),
    )


def check_row(data: Any) -> None:
    """Refuse a row nested too deep or holding text no database stores (NUL, lone surrogates)."""
    try:
        check_document(data)
    except UntrustedInputError as error:
        raise RowError(str(error)) from None


def normalise_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Lower-case keys, drop empty values, snap colours and materials to the vocabulary."""
    normalised: dict[str, Any] = {}
    for raw_key, value in attributes.items():
        key = str(raw_key).strip().lower().replace(" ", "_")
        if not key or value is None or value == "" or value == []:
            continue
        if isinstance(value, dict):
            raise RowError(f"attribute {key!r} must be a value or a list, not an object")
        if key in MULTI_VALUED_ATTRIBUTES:
            values = value if isinstance(value, list) else str(value).split("|")
            if key == "color":
                values = normalise_colors(values)
            elif key == "material":
                values = normalise_materials(values)
            else:
                values = [str(v).strip().lower() for v in values if str(v).strip()]
            if values:
                normalised[key] = values
        elif isinstance(value, bool | int | float):
            normalised[key] = _finite(key, value)
        elif isinstance(value, list):
            normalised[key] = [str(v).strip() for v in value if str(v).strip()]
        else:
            normalised[key] = _finite(key, _typed(str(value).strip()))
        if isinstance(normalised.get(key), str) and len(normalised[key]) > 255:
            raise RowError(f"attribute {key!r} is longer than 255 characters")
    return normalised


MAX_ATTRIBUTE_NUMBER = 1e15


def _finite(key: str, value: Any) -> Any:
    """Numbers must be finite and of a sane size (the database stores floats)."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and (abs(value) > MAX_ATTRIBUTE_NUMBER or not math.isfinite(value)):
        raise RowError(f"attribute {key!r} is not a number of a sane size: {value!r}")
    return value


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _typed(text: str) -> str | int | float | bool:
    """Numbers and booleans written as text (CSV cells) become typed values."""
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_price(value: Any) -> Decimal:
    """A non-negative price from a number or a string like ``"1,295.00"``."""
    if value is None or value == "":
        raise RowError("price is required")
    if isinstance(value, bool):
        raise RowError(f"price is not a number: {value!r}")
    try:
        price = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise RowError(f"price is not a number: {value!r}") from None
    if not price.is_finite() or price < 0:
        raise RowError(f"price must be a non-negative number: {value!r}")
    if price >= Decimal("1e10"):
        raise RowError(f"price is implausibly large: {value!r}")
    return price.quantize(Decimal("0.01"))


def _required_text(data: dict[str, Any], key: str, max_length: int) -> str:
    value = _text(data.get(key))
    if not value:
        raise RowError(f"{key} is required")
    if len(value) > max_length:
        raise RowError(f"{key} is longer than {max_length} characters")
    return value


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _currency(value: Any) -> str:
    code = str(value).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise RowError(f"currency must be a 3-letter code: {value!r}")
    return code


def _url(value: Any, key: str) -> str:
    """A safe link (``catalog.links``), ``http:`` upgraded; an unsafe one rejects the row, so the
    import report names it instead of the product silently losing its picture or page."""
    url = _text(value)
    safe = safe_url(url)
    if url and not safe:
        raise RowError(f"{key} must be an https URL or a path on this site (/…): {url!r}")
    if len(safe) > 1000:
        raise RowError(f"{key} is longer than 1000 characters")
    return safe


def _rating(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        rating = float(value)
    except (TypeError, ValueError):
        raise RowError(f"rating is not a number: {value!r}") from None
    if not 0 <= rating <= 5:
        raise RowError(f"rating must be between 0 and 5: {value!r}")
    return rating


def _non_negative_int(value: Any, key: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise RowError(f"{key} is not a whole number: {value!r}") from None
    if number < 0 or number > 2**31 - 1:
        raise RowError(f"{key} must be a whole number from 0 to 2147483647: {value!r}")
    return number
