"""The codebook: its model and validation, its keys, and changes to it."""
