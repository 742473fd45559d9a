"""Helpers for the PyTorch course: import what a lesson needs from the submodules."""

__version__ = "0.1.0"
