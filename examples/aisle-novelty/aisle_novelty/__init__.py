"""Aisle ranking plugin: the ``novelty`` ranker and a wrapper that hides disliked products.

Everything lives in :mod:`aisle_novelty.plugin`, the module the ``aisle.rankers`` entry point
names.
"""

__version__ = "0.1.0"
