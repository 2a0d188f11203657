"""Golden regressions (layer 6): stats, files, tolerance, compare, message, the
fixture, and the checkpoint diff.
"""
