"""Hooks, pooling and the extraction loop: every requested layer captured in one forward pass."""
