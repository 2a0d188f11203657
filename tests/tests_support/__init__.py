"""Importable helpers for actassert's own tests (``tests/`` is on ``pythonpath``)."""
