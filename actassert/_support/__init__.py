"""Leaf helpers (layer 0): device, messages, progress, paired timing, memory,
HTML, colour, image io.

They import nothing of actassert but ``errors``; anything may import them.
"""
