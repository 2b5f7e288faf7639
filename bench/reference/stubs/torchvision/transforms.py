"""Stub: torchvision.transforms."""
