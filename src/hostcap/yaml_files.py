"""Reading YAML that people write (protocols, practice rulebook files, assessment inputs).

PyYAML keeps the *last* of two equal keys in a mapping without a word, so a practice file that
sets ``weight:`` twice, or a protocol with two ``dose:`` lines, would be used with one of them
silently dropped. :func:`load_yaml` refuses such a file instead, naming the key and both lines.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode

__all__ = ["DuplicateKeyError", "UniqueKeyLoader", "load_yaml"]


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice (a ``yaml.YAMLError``, so callers catch it as one)."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"duplicate key {self.key!r} at line {self.line} (already set at line "
            f"{self.first_line}); expected each key once in a mapping"
        )


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises :class:`DuplicateKeyError` on a repeated mapping key."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader reports it itself
                continue
            if first is not None:
                raise DuplicateKeyError(key, key_node.start_mark.line + 1, first)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse YAML like ``yaml.safe_load``, refusing repeated keys (:class:`DuplicateKeyError`)."""
    return yaml.load(text, Loader=UniqueKeyLoader)
