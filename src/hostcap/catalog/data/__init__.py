"""Packaged catalog data (YAML), read through ``importlib.resources`` by ``hostcap.catalog``."""
