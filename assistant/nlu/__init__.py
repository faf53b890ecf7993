"""The utterance parser: shopper text in, a CONTRACTS §3 frame out.

A fine-tuned MiniLM tags each word (BIO slot spans) and classifies the
utterance (intent); ``normalise`` turns the tagged spans into slot values
snapped to the catalog vocabulary. Training data comes from ``generate``.
No Django imports anywhere in this package: the GPU machine runs it alone.
"""
