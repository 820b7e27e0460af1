"""Benchmarks: the cost of securebedrock over raw boto3, measured in one run.

``python -m benchmarks [--quick] [--out PATH]`` talks to one embedded
(loopback) Bedrock endpoint with a raw boto3 client and a secured client side
by side, interleaving their runs, and writes ``benchmarks/results/latest.json``
plus a readable table. Method and latest figures: ``docs/performance.md``.
"""
