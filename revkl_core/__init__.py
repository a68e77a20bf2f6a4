"""revkl_core: the ground floor under every revkl package.

Run folders (atomic writes, JSONL, TOML, hashes, locks), statistics and progress reporting.
It imports nothing of ours (the standard library, numpy and scipy only); `tests/core/test_layers.py`
enforces that, and that every other package imports only the floors below it.
"""
