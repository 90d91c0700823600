"""Fusion pipelines built on the GACN model: pairs, focus stacks, tiling, alignment."""

from gacn.fusion.pair import FusionResult, fuse_pair
from gacn.fusion.stack import DEFAULT_METHOD, DEFAULT_STRATEGY, METHODS, STRATEGIES, fuse_stack

__all__ = ["DEFAULT_METHOD", "DEFAULT_STRATEGY", "METHODS", "STRATEGIES", "FusionResult", "fuse_pair", "fuse_stack"]
