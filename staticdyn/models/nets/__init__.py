"""Architectures staticdyn implements itself (the rest come from pytorchvideo, torchvision,
mmaction2): TimeSformer, FastOnly, MViT variants, the VOS nets and the toy models."""
