"""Names of a package imported from their modules on first use (PEP 562).

``import gacn``, ``gacn --help`` and the steps of the pipeline that need no network then do
not import torch and the model (about a second).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each of ``names`` (name -> module) on first access.

    The value is then kept in ``package``'s namespace, so later accesses are plain lookups.

    Examples
    --------
    >>> getattr_ = lazy_attributes(__name__, {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0)
    3.0
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
