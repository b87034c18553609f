"""Whether the base install and every extra resolve to wheels on the platforms users have:
Linux x86_64 and aarch64, macOS on Apple silicon, Windows x86_64 (Python 3.11). Prints a
table (docs/install.md keeps the last one):

    python scripts/check_platforms.py [--python-version 3.11]

Each cell runs ``pip install --dry-run --only-binary=:all: --platform ...`` on the base
dependencies plus the extra's. pip evaluates environment markers for the machine it runs
on, not for --platform, so the markers of edgeface's own requirements are evaluated here
for the target first; markers inside other packages' metadata are still this machine's
(a dependency that only one OS needs can be missed or added). Needs the package index.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
# name -> (pip --platform tags, the marker environment of that platform)
PLATFORMS = {
    # pip does not expand the legacy manylinux names to the PEP 600 ones: both are listed
    "linux x86_64": ([f"manylinux_2_{v}_x86_64" for v in (5, 12, 17, 24, 27, 28, 31, 34, 35)]
                     + ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "linux_x86_64"],
                     {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                      "os_name": "posix"}),
    "linux aarch64": ([f"manylinux_2_{v}_aarch64" for v in (17, 24, 27, 28, 31, 34, 35)]
                      + ["manylinux2014_aarch64", "linux_aarch64"],
                      {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64",
                       "os_name": "posix"}),
    "macOS arm64": ([f"macosx_{v}_0_arm64" for v in (11, 12, 13, 14)]
                    + [f"macosx_{v}_0_universal2" for v in (11, 12, 13, 14)] + ["macosx_10_9_universal2"],
                    {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                     "os_name": "posix"}),
    "Windows x86_64": (["win_amd64"], {"sys_platform": "win32", "platform_system": "Windows",
                                       "platform_machine": "AMD64", "os_name": "nt"}),
}


def requirements(project: dict, extra: str | None, environment: dict) -> list[str]:
    """The base requirements plus ``extra``'s (recursively through edgeface[...]), those
    whose markers hold on ``environment``, without their markers."""
    wanted: list[str] = []
    todo = list(project["dependencies"]) + (list(project["optional-dependencies"][extra]) if extra else [])
    while todo:
        requirement = Requirement(todo.pop(0))
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        if requirement.name == project["name"]:
            for nested in sorted(requirement.extras):
                todo += project["optional-dependencies"][nested]
            continue
        requirement.marker = None
        wanted.append(str(requirement))
    return sorted(set(wanted))


def resolves(packages: list[str], tags: list[str], python_version: str) -> tuple[bool, str]:
    """(True, "") when pip finds wheels for all of ``packages`` and their dependencies."""
    with tempfile.TemporaryDirectory() as target:
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--disable-pip-version-check", "--only-binary=:all:", "--target", target,
                   "--python-version", python_version, *(f"--platform={t}" for t in tags), *packages]
        ran = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    errors = [line for line in ran.stderr.splitlines() if line.startswith("ERROR")]
    return ran.returncode == 0, (errors[-1] if errors else ran.stderr.strip()[-200:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-version", default="3.11")
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [None, *project["optional-dependencies"]]
    print("| install | " + " | ".join(PLATFORMS) + " |")
    print("|---|" + "---|" * len(PLATFORMS))
    failures = []
    for extra in extras:
        cells = []
        for name, (tags, markers) in PLATFORMS.items():
            environment = {**default_environment(), **markers}
            ok, why = resolves(requirements(project, extra, environment), tags, args.python_version)
            cells.append("yes" if ok else "no")
            if not ok:
                failures.append(f"{extra or 'base'} on {name}: {why}")
        print(f"| {'edgeface' if extra is None else f'edgeface[{extra}]'} | " + " | ".join(cells) + " |", flush=True)
    for line in failures:
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
