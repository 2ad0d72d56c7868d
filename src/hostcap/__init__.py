"""hostcap: a research-and-practice instrument for the Host Capacity Model of MCAS.

The Host Capacity Model is a hypothesis. hostcap implements it as one model variant beside its
competitors, records clinical data carefully, and lets the data decide.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hostcap")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
