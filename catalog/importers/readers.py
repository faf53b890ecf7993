"""One streaming reader per catalog format (CONTRACTS §2, ``import_catalog``).

Row numbers are 1-based positions of the product in the file: the data line
for ``jsonl``/``csv``/``ikea`` (the header is not counted) and the array index
for ``bestbuy``.
"""

import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ijson

from catalog.vocabulary import colors_in_text, materials_in_text
from core import untrusted

from .records import ProductRecord, RowError, check_row, parse_price, record_from_mapping

Row = tuple[int, ProductRecord | RowError]
Reader = Callable[[Path], Iterator[Row]]

# CSV cells can be long descriptions; the stdlib default (128 KiB) is fine, but
# a broken quote can swallow the rest of a file, so keep the bound explicit.
csv.field_size_limit(1_000_000)


def read_jsonl(path: Path) -> Iterator[Row]:
    """One JSON object per line; blank lines are skipped but still counted."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = untrusted.loads(line)
            except untrusted.UntrustedInputError as error:
                yield number, RowError(f"invalid JSON: {error.message}")
                continue
            yield number, _guarded(record_from_mapping, data)


def read_csv(path: Path) -> Iterator[Row]:
    """The jsonl fields as columns; ``categories`` split on ``|``, ``attr:NAME`` columns."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"sku", "title", "price"} <= set(reader.fieldnames):
            raise RowError("CSV header must have at least sku, title and price columns")
        for number, row in enumerate(reader, start=1):
            yield number, _guarded(record_from_csv_row, row)


def record_from_csv_row(row: dict[str | None, Any]) -> ProductRecord:
    """A product from one table row: ``categories`` split on ``|``, ``attr:NAME`` columns.

    An ``attributes`` column holding a JSON object (as the admin exports) is
    read too; ``attr:`` columns win over its keys.
    """
    if None in row:
        raise RowError("row has more cells than the header")
    data: dict[str, Any] = {key: value for key, value in row.items() if not key.startswith("attr:")}
    categories = row.get("categories") or ""
    data["categories"] = categories if isinstance(categories, list) else str(categories).split("|")
    attributes = row.get("attributes") or {}
    if isinstance(attributes, str):
        try:
            attributes = untrusted.loads(attributes)
        except untrusted.UntrustedInputError as error:
            raise RowError(f"attributes column is not a JSON object: {error.message}") from None
    data["attributes"] = {
        **attributes,
        **{
            key.removeprefix("attr:"): value
            for key, value in row.items()
            if key.startswith("attr:") and value
        },
    }
    return record_from_mapping(data)


def read_bestbuy(path: Path) -> Iterator[Row]:
    """The public Best Buy JSON array; SKU from the image file name (``4984700_sb.jpg``)."""
    with path.open("rb") as handle:
        if handle.read(64).lstrip()[:1] != b"[":
            raise RowError("not a JSON array of products")
        handle.seek(0)
        for number, item in enumerate(ijson.items(handle, "item", use_float=True), start=1):
            yield number, _guarded(_record_from_bestbuy, item)


_BESTBUY_SKU = re.compile(r"/(\d+)_[^/]*$")


def _record_from_bestbuy(item: dict[str, Any]) -> ProductRecord:
    if not isinstance(item, dict):
        raise RowError("expected a JSON object")
    check_row(item)  # before the fields are turned into text: a deep list would recurse
    match = _BESTBUY_SKU.search(str(item.get("image") or ""))
    if not match:
        raise RowError(f"no SKU in image file name: {item.get('image')!r}")
    name = str(item.get("name") or "")
    categories = item.get("categories") or []
    attributes: dict[str, Any] = {
        "color": colors_in_text(name.rsplit(" - ", 1)[-1]) if " - " in name else [],
        "popularity": item.get("popularity"),
    }
    if categories:
        attributes["type"] = str(categories[-1]).lower().removeprefix("all ")
    return record_from_mapping(
        {
            "sku": match.group(1),
            "title": name,
            "description": item.get("description"),
            "brand": item.get("brand"),
            "categories": [" > ".join(str(c) for c in categories)] if categories else [],
            "price": item.get("price"),
            "currency": "USD",
            "image_url": item.get("image"),
            "attributes": attributes,
        }
    )


def read_ikea(path: Path) -> Iterator[Row]:
    """The public IKEA Saudi Arabia CSV.

    A product listed under several categories repeats its ``item_id`` on
    several rows. A first pass collects each id's categories (ids only, not
    rows), so the second pass can yield each product once, complete, at its
    first row: re-importing then compares like with like.
    """
    categories: dict[str, list[str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            item_id, category = (row.get("item_id") or "").strip(), (row.get("category") or "").strip()
            if item_id and category and category not in categories.setdefault(item_id, []):
                categories[item_id].append(category)
    seen: set[str] = set()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            item_id = (row.get("item_id") or "").strip()
            if item_id and item_id in seen:
                continue
            seen.add(item_id)
            yield number, _guarded(_record_from_ikea, row, categories.get(item_id, []))


_IKEA_SLUG = re.compile(r"/p/([a-z0-9-]+?)-s?\d{8}/?$")
_IKEA_SIZE = re.compile(r"(\d+(?:x\d+)*)\s*cm")
_IKEA_ARTICLE_TEXT = re.compile(r"^\d{3}\.\d{3}\.\d{2}\s*")
_IKEA_OLD_PRICE = re.compile(r"SR\s*([\d,.]+)", re.IGNORECASE)


def _record_from_ikea(row: dict[str, Any], categories: list[str]) -> ProductRecord:
    if not (row.get("item_id") or "").strip().isdigit():
        raise RowError(f"item_id must be digits: {row.get('item_id')!r}")
    parts = [part.strip() for part in (row.get("short_description") or "").split(",") if part.strip()]
    product_type = parts[0].lower() if parts else ""
    link = (row.get("link") or "").strip()
    slug_match = _IKEA_SLUG.search(link)
    slug = slug_match.group(1).replace("-", " ") if slug_match else ""
    size = _IKEA_SIZE.search(row.get("short_description") or "")
    # Some rows carry the long product text in the designer column, after the
    # article number ("504.689.53 Small and easy-to-place chair-bed…").
    designer = " ".join((row.get("designer") or "").split())
    long_text = ""
    if _IKEA_ARTICLE_TEXT.match(designer) or len(designer) > 120:
        designer, long_text = "", _IKEA_ARTICLE_TEXT.sub("", designer)
    attributes: dict[str, Any] = {
        "type": product_type,
        "color": colors_in_text(slug),
        "material": materials_in_text(slug),
        "designer": designer,
        "depth": _optional_number(row.get("depth")),
        "height": _optional_number(row.get("height")),
        "width": _optional_number(row.get("width")),
        "size": size.group(1) if size else None,
        "sellable_online": (row.get("sellable_online") or "").strip().upper() == "TRUE",
        "other_colors": (row.get("other_colors") or "").strip().lower() == "yes",
    }
    # "SR 2,375", or "SR 50/4 pack" for multipacks: the leading amount is the price.
    old_price = _IKEA_OLD_PRICE.match((row.get("old_price") or "").strip())
    if old_price:
        attributes["old_price"] = float(parse_price(old_price.group(1)))
    name = " ".join((row.get("name") or "").split())
    return record_from_mapping(
        {
            "sku": row["item_id"].strip(),
            "title": f"{name} {product_type}".strip(),
            "description": " ".join([*parts, long_text]).strip(),
            "brand": "IKEA",
            "categories": categories,
            "price": row.get("price"),
            "currency": "SAR",
            "url": link,
            "attributes": attributes,
        }
    )


def _optional_number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        raise RowError(f"not a number: {value!r}") from None


def _guarded(build: Callable[..., ProductRecord], *args: Any) -> ProductRecord | RowError:
    """Run a record builder, turning a bad row into a ``RowError`` value."""
    try:
        return build(*args)
    except RowError as error:
        return error
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as error:
        return RowError(f"malformed row: {error}")


READERS: dict[str, Reader] = {
    "ikea": read_ikea,
    "bestbuy": read_bestbuy,
    "jsonl": read_jsonl,
    "csv": read_csv,
}


def read_catalog(path: Path, fmt: str) -> Iterator[Row]:
    """Stream ``path`` in format ``fmt``; raises ``RowError`` if the file as a whole is unreadable."""
    if fmt not in READERS:
        raise RowError(f"unknown format {fmt!r}; expected one of {', '.join(READERS)}")
    if not path.is_file():
        raise RowError(f"no such file: {path}")
    return _stop_at_broken_file(READERS[fmt](path))


def _stop_at_broken_file(rows: Iterator[Row]) -> Iterator[Row]:
    """A file that breaks part-way (bad encoding, truncated JSON, broken CSV
    quoting) ends the import with one rejection after the rows read so far; one
    that is unreadable from the start raises ``RowError``."""
    number = 0
    try:
        for number, record in rows:
            yield number, record
    except (UnicodeDecodeError, csv.Error, ijson.JSONError) as error:
        if number == 0:
            raise RowError(f"unreadable file: {error}") from None
        yield number + 1, RowError(f"the file breaks here, nothing after it was read: {error}")
