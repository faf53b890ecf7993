"""Catalog file readers: each turns one source format into ``ProductRecord`` rows.

Pure Python (no Django): readers stream their file and yield one
``(row_number, ProductRecord | RowError)`` per product, so a caller can store the
good rows and report the bad ones without holding the file in memory.
"""

from .readers import READERS, read_catalog
from .records import ProductRecord, RowError

__all__ = ["READERS", "ProductRecord", "RowError", "read_catalog"]
