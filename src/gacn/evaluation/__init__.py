"""Benchmarking fusion methods: the runner on folders of pairs, the datasets of the benchmark suite
(real and generated with ground truth), cached scoring and the Markdown report."""
