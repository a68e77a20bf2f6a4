"""Named, independent random streams: the same (seed, indices, tag) always gives the same numbers."""

from __future__ import annotations

import zlib

import numpy as np
import torch


def stream_seed(seed: int, *parts: int | str) -> int:
    """A 63-bit seed for the stream named by ``parts`` (ints, or strings hashed with CRC32)."""
    key = [int(seed)] + [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts]
    return int(np.random.SeedSequence(key).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


def generator(seed: int, *parts: int | str) -> torch.Generator:
    """A CPU torch.Generator seeded for the stream named by ``parts``."""
    g = torch.Generator()
    g.manual_seed(stream_seed(seed, *parts))
    return g
