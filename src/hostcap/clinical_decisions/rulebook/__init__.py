"""Packaged rulebook data (YAML); read through importlib.resources by ``rulebook_loading``."""
