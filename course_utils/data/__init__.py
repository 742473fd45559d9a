"""Data sets as uint8 tensors on the device, with safe downloads, strict folders and clear errors."""
