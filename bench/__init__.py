"""Benchmarks (figures, not tests), run from the checkout.

    python -m bench.latency
    python -m bench.train_throughput
"""
