"""Apache Kafka's jars, resolved from Maven Central with Maven.

The jars land in ``<home>/kafka-<version>/libs`` and Maven uses its own
repository under ``<home>/m2``, so the cache is self-contained, outside the
project's tracked files and re-used by every later start. Resolution is
atomic: a half-finished download never looks like a complete runtime.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ._errors import LocalKafkaError

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
SLF4J_BINDING = ("org.slf4j", "slf4j-reload4j", "1.7.36")
_MARKER = ".complete"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.switchboard</groupId>
  <artifactId>local-kafka-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>{slf4j_group}</groupId>
      <artifactId>{slf4j_artifact}</artifactId>
      <version>{slf4j_version}</version>
    </dependency>
  </dependencies>
</project>
"""


#: the oldest Java the brokers we support run on: Kafka 4.x brokers need 17
#: (3.9 still ran on 11); the README and ``switchboard kafka --help`` say the same
MIN_JAVA = 17


def require_java() -> str:
    """The ``java`` on PATH; LocalKafkaError naming Java 17 if it is missing or older."""
    java = shutil.which("java")
    hint = f"install Java {MIN_JAVA} (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
    if java is None:
        raise LocalKafkaError(f"java was not found on PATH: {hint}")
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalKafkaError(f"java -version failed ({exc}): {hint}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):
            major = int(match.group(2))
        if major < MIN_JAVA:
            raise LocalKafkaError(f"java {major} is too old for Kafka (needs {MIN_JAVA}+): {hint}")
    return java


def libs_dir(home: Path, version: str) -> Path:
    return home / f"kafka-{version}" / "libs"


def is_resolved(home: Path, version: str) -> bool:
    return (libs_dir(home, version) / _MARKER).is_file()


def resolve(home: Path, version: str) -> Path:
    """Return the directory holding Kafka ``version``'s jars, resolving them
    with Maven on first use. Raises :class:`LocalKafkaError`."""
    target = libs_dir(home, version)
    if is_resolved(home, version):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            "mvn (Apache Maven) was not found on PATH; it fetches Kafka's jars once: "
            "install it (Debian/Ubuntu: apt-get install maven)"
        )
    home.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".resolve-{version}-", dir=home))
    try:
        group, artifact, slf4j_version = SLF4J_BINDING
        (work / "pom.xml").write_text(
            _POM.format(
                version=version,
                slf4j_group=group,
                slf4j_artifact=artifact,
                slf4j_version=slf4j_version,
            )
        )
        out_dir = work / "libs"
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(work / "pom.xml"),
            f"-Dmaven.repo.local={home / 'm2'}",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={out_dir}",
            "-DincludeScope=runtime",
        ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=900, check=False, cwd=work
        )
        jars = list(out_dir.glob("kafka_2.13-*.jar")) if out_dir.is_dir() else []
        if proc.returncode != 0 or not jars:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise LocalKafkaError(
                f"Maven could not resolve org.apache.kafka:kafka_2.13:{version} "
                f"(is Maven Central reachable, does the version exist?):\n{tail}"
            )
        (out_dir / _MARKER).write_text(version + "\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(out_dir, target)
        return target
    except subprocess.TimeoutExpired:
        raise LocalKafkaError("Maven took over 15 minutes to resolve Kafka's jars") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
