"""The text a product is embedded and matched by."""

from collections.abc import Mapping, Sequence
from typing import Any

# Attributes that describe what a shopper asks for; others (designer, popularity)
# would only add noise to the embedding.
KEY_ATTRIBUTES = ("color", "material", "style", "room", "size", "seats", "feature", "compatible_with")
DESCRIPTION_CHARS = 400


def product_text(
    title: str,
    brand: str,
    categories: Sequence[str],
    attributes: Mapping[str, Any],
    description: str,
) -> str:
    """Title, type, brand, categories, key attributes and the start of the description."""
    parts = [title.strip()]
    product_type = str(attributes.get("type") or "").strip()
    if product_type and product_type.lower() not in title.lower():
        parts.append(product_type)
    if brand:
        parts.append(f"Brand: {brand}")
    if categories:
        parts.append(f"Category: {'; '.join(categories)}")
    for key in KEY_ATTRIBUTES:
        value = attributes.get(key)
        if value in (None, "", []):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key.replace('_', ' ').capitalize()}: {shown}")
    if description:
        parts.append(description[:DESCRIPTION_CHARS])
    return ". ".join(parts)
