"""The installed sropt version, readable from any layer.

Lower layers (models/, validate/, ...) must not import ``sropt`` (the CLI
package) for ``__version__``: that import points up the layers. The
installed distribution's metadata says the same thing from the ground floor.
"""

from __future__ import annotations

from functools import cache


@cache
def sropt_version() -> str:
    """The version of the installed ``sropt`` distribution ("unknown" if not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sropt")
    except PackageNotFoundError:
        return "unknown"


__all__ = ["sropt_version"]
