"""Failure artefacts (layer 7): a test's results folder, the figures written
into it, the gallery, and their pytest reporting.
"""
