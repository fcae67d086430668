"""Model zoo: builders, layer aliases, clip specs, checkpoint loading, VOS nets."""
