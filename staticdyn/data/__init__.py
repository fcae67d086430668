"""Video sources, stylizers, optical flow and pair samplers."""
