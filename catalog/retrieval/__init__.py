"""Retrieval cores: product text, the sentence encoder. Pure Python, no Django."""
