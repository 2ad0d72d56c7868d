"""Packaged model definition (YAML), read through ``importlib.resources``."""
