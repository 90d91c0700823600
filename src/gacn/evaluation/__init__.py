"""Benchmarking fusion methods on real pairs with the no-reference metrics."""
