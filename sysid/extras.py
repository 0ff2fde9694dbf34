"""Optional dependencies: a missing one is a one-line user error naming the extra that installs it."""

from __future__ import annotations

import importlib.util

from sysid.errors import UserError


def require(module: str, *, extra: str, feature: str) -> None:
    """Raise UserError (exit 2, one line) when `module` is not installed, naming `pip install "sysid[extra]"`."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        found = False
    if not found:
        raise UserError(f'{feature} needs {module}, which is not installed: pip install "sysid[{extra}]"')
