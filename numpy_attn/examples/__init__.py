"""Runnable examples: ``python -m numpy_attn.examples.<name> --help``."""
