"""The JavaScript/TypeScript and Rust corpora of `analyzer_throughput.py`: real published code,
fetched at run time with the registries' own clients into the benchmark's cache (never committed).

- JavaScript/TypeScript from the npm registry (`npm pack NAME@VERSION`, the tarball unpacked, no
  install scripts run): mongoose's `lib/` (JavaScript, a store client), fastify (JavaScript and its
  TypeScript typings tests, a web framework), rxjs's `src/` (TypeScript sources; its `dist/` is
  compiled output and left out). Declaration files (`*.d.ts`) hold no code and are left out.
- Rust from PyPI sdists (`pip download --no-binary NAME --no-deps NAME==VERSION`): tokenizers
  0.13.3 (Hugging Face's tokenizers crate and its PyO3 bindings) and cryptography 41.0.7 (its
  `src/rust` crates). Both build with setuptools-rust, whose metadata step needs no network;
  maturin sdists such as pydantic-core's run `cargo metadata` while pip downloads them, which fails
  wherever crates.io cannot be reached.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NPM_PACKAGES", "RUST_SDISTS", "Source", "javascript_sources", "rust_sources"]


@dataclass(frozen=True)
class Source:
    """One package of a corpus: where its files are, and which of them count."""

    name: str
    root: Path
    keep: Callable[[Path], bool]


def _javascript(path: Path) -> bool:
    return path.suffix in (".js", ".mjs", ".cjs", ".ts", ".tsx") and not path.name.endswith(".d.ts")


def _under(folder: str, keep: Callable[[Path], bool]) -> Callable[[Path], bool]:
    return lambda path: path.parts[:1] == (folder,) and keep(path)


# name -> (pinned spec, which files of the package count, relative to the package root)
NPM_PACKAGES: dict[str, tuple[str, Callable[[Path], bool]]] = {
    "mongoose": ("mongoose@9.12.2", _under("lib", _javascript)),
    "fastify": ("fastify@5.12.8", _javascript),
    "rxjs": ("rxjs@7.8.2", _under("src", _javascript)),
}
# name -> pinned version; every `*.rs` file of the sdist counts
RUST_SDISTS = {"tokenizers": "0.13.3", "cryptography": "41.0.7"}


def _unpack(archive: Path, target: Path) -> Path:
    """Unpack a .tgz / .tar.gz into `target` (recreated) and return its single top folder."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")  # no links out, no devices, no absolute paths
    tops = [p for p in target.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise SystemExit(f"{archive.name}: expected one top folder, found {len(tops)}")
    return tops[0]


def javascript_sources(cache: Path) -> list[Source]:
    """The npm packages, packed once into `cache/npm` and unpacked next to their tarballs."""
    folder = cache / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for name, (spec, keep) in NPM_PACKAGES.items():
        version = spec.rsplit("@", 1)[1]
        archive = folder / f"{name}-{version}.tgz"
        if not archive.is_file():
            print(f"npm pack {spec} into {folder}", file=sys.stderr)
            subprocess.run(
                ["npm", "pack", spec, "--pack-destination", str(folder), "--silent", "--ignore-scripts"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        root = _unpack(archive, folder / f"{name}-{version}")
        sources.append(Source(name, root, keep))
    return sources


def rust_sources(cache: Path) -> list[Source]:
    """The PyPI sdists, downloaded once into `cache/sdists` and unpacked next to them."""
    folder = cache / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for name, version in RUST_SDISTS.items():
        archive = folder / f"{name}-{version}.tar.gz"
        if not archive.is_file():
            print(f"pip download {name}=={version} (sdist) into {folder}", file=sys.stderr)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--no-binary",
                    name,
                    "--dest",
                    str(folder),
                    f"{name}=={version}",
                ],
                check=True,
            )
        root = _unpack(archive, folder / f"{name}-{version}")
        sources.append(Source(name, root, lambda path: path.suffix == ".rs"))
    return sources
