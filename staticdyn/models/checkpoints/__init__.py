"""Checkpoint files: one safe reader, strict loading, and the layout converters.

Checkpoints are untrusted input (shared drives, model zoos), so every format goes through
``reader`` and nothing here ever unpickles arbitrary objects.
"""
