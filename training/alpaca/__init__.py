"""Stanford Alpaca dataset analysis (`python -m training.alpaca`): loading, dependency parses, statistics,
plots and the report. The low-quality detectors live in ``training.quality``, shared with the robot dataset.

    io.py       JSON / JSONL / Parquet / hub loading, the cache fingerprint
    parse.py    root verbs and their objects (spaCy, cached; first word as a labelled fallback)
    stats.py    lengths in words and tokens, percentiles, verb/object tables
    plots.py    the PNG figures
    report.py   report.md and summary.json
    analyze.py  the command line
"""
