"""Fusion pipelines built on the GACN model."""

from gacn.fusion.pair import FusionResult, fuse_pair

__all__ = ["FusionResult", "fuse_pair"]
