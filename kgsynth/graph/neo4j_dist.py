"""Getting Neo4j onto the machine: find Java and Maven, fetch the jars once into the cache.

Neo4j and Neo4j Browser are ordinary Maven artifacts, so Maven fetches them into the
user cache (never the repo); a marker file written last tells a finished fetch from
an interrupted one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kgsynth.errors import ConfigError, StoreError
from kgsynth.process import tail_text
from kgsynth.settings import user_cache_dir

NEO4J_VERSION = "5.26.30"
"""Latest 5.26 (LTS) patch on Maven Central when this was written."""
BROWSER_VERSION = "5.24.0"
"""Newest ``org.neo4j.client:neo4j-browser`` on Maven Central; works with 5.26."""
MIN_JAVA = 17
_COMPLETE = ".complete"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    """Default progress callback: say nothing."""


# -- tools ----------------------------------------------------------------------


def find_java() -> str:
    """Path of a Java 17+ ``java`` (``JAVA_HOME`` first), or a ConfigError saying what to install."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    hint = f"Java {MIN_JAVA}+ not found: install openjdk-{MIN_JAVA}-jre-headless (or set JAVA_HOME)"
    if not java:
        raise ConfigError(hint)
    version = java_major_version(java)
    if version is None:
        raise ConfigError(f"{hint}; `{java} -version` did not run")
    if version < MIN_JAVA:
        raise ConfigError(f"Java {MIN_JAVA}+ needed, {java} is Java {version}: install openjdk-{MIN_JAVA}-jre-headless")
    return java


def java_major_version(java: str) -> int | None:
    """The major version ``java -version`` reports (1.8 -> 8), or None if it fails."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_maven() -> str:
    """Path of ``mvn``, or a ConfigError: Maven is only needed for the first fetch."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise ConfigError(
            f"Maven not found: install maven (needed once, to fetch Neo4j {NEO4J_VERSION} into {cache_dir()})"
        )
    return mvn


# -- fetching the jars ------------------------------------------------------------


def cache_dir(version: str = NEO4J_VERSION) -> Path:
    """Where the jars of one Neo4j version are cached (shared by every home)."""
    return user_cache_dir() / f"neo4j-{version}"


def lib_dir(version: str = NEO4J_VERSION) -> Path:
    return cache_dir(version) / "lib"


def is_fetched(version: str = NEO4J_VERSION) -> bool:
    """True when a previous fetch finished (the marker is written last)."""
    return (lib_dir(version) / _COMPLETE).is_file()


def render_pom(version: str = NEO4J_VERSION, browser: str = BROWSER_VERSION) -> str:
    """The packaged pom with the versions filled in."""
    template = (Path(__file__).parent / "neo4j-pom.xml").read_text(encoding="utf-8")
    return template.replace("@NEO4J_VERSION@", version).replace("@BROWSER_VERSION@", browser)


def ensure_jars(progress: Progress = _quiet, version: str = NEO4J_VERSION) -> Path:
    """Fetch Neo4j and Browser with Maven once; later calls return the cached folder."""
    lib = lib_dir(version)
    if is_fetched(version):
        return lib
    mvn = find_maven()
    progress(f"Fetching Neo4j {version} and Neo4j Browser {BROWSER_VERSION} from Maven Central into {lib} ...")
    cache_dir(version).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir(version), prefix="fetch-") as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(render_pom(version), encoding="utf-8")
        target = work / "lib"
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={target}",
            "-DincludeScope=runtime",
        ]
        started = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
        if out.returncode != 0 or not any(target.glob("neo4j-*.jar")):
            tail = tail_text(out.stdout + out.stderr, 8)
            raise StoreError(f"Maven could not fetch Neo4j {version} (exit {out.returncode}): {tail}")
        (target / _COMPLETE).write_text(f"{version} {BROWSER_VERSION}\n", encoding="utf-8")
        if lib.exists() and not is_fetched(version):
            shutil.rmtree(lib)  # an unfinished copy from an older kgsynth; never a complete one in use
        try:
            target.rename(lib)
        except OSError:
            if not is_fetched(version):  # another start finished first: use its copy
                raise
    progress(f"Fetched Neo4j {version} in {time.monotonic() - started:.0f} s")
    return lib
