"""Fusion pipelines built on the GACN model: pairs, focus stacks, tiling, alignment.

The names below are imported from their modules on first use (PEP 562): importing a step of
the pipeline that needs no network (:mod:`gacn.fusion.measure`, :mod:`gacn.fusion.blend`, ...)
then does not import torch and the model.
"""

from __future__ import annotations

from gacn.lazy import lazy_attributes

#: Each public name and the module it lives in.
_LAZY = {"FusionResult": "gacn.fusion.result", "fuse_pair": "gacn.fusion.pair", "fuse_stack": "gacn.fusion.stack",
         "DEFAULT_METHOD": "gacn.fusion.stack", "DEFAULT_STRATEGY": "gacn.fusion.stack",
         "METHODS": "gacn.fusion.stack", "STRATEGIES": "gacn.fusion.stack"}

__all__ = ["DEFAULT_METHOD", "DEFAULT_STRATEGY", "METHODS", "STRATEGIES", "FusionResult", "fuse_pair", "fuse_stack"]


__getattr__ = lazy_attributes(__name__, _LAZY)
