"""Constraints for installing CLARA into a base image that already holds torch, vLLM and Ray (cluster/Dockerfile.gpu).

`python cluster/image_constraints.py merge <base-freeze.txt> constraints.txt > merged.txt`: every package the image
already has stays at the image's version (its torch/vLLM/Ray/transformers are built to work together), the rest
is pinned by constraints.txt. `python cluster/image_constraints.py verify <base-freeze.txt> torch vllm ray`: after
the install, fails when any named package's version differs from the image's (nothing reinstalled them).
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def canonical(name: str) -> str:
    """PEP 503 name: case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, tuple[str, str]]:
    """canonical name -> (name as written, version) for every `name==version` line (pip freeze, constraints.txt)."""
    found = {}
    for line in text.splitlines():
        m = PIN.match(line)
        if m:
            found[canonical(m.group(1))] = (m.group(1), m.group(2))
    return found


def merge(base_freeze: str, constraints: str) -> str:
    """Constraints where the base image's versions win over constraints.txt for every package the image has."""
    base = pins(base_freeze)
    merged = dict(base)
    for key, pin in pins(constraints).items():
        merged.setdefault(key, pin)
    return "".join(f"{name}=={ver}\n" for name, ver in sorted(merged.values(), key=lambda p: canonical(p[0])))


def changed(base_freeze: str, packages: list[str]) -> list[str]:
    """The named packages whose installed version is not the base image's (or that are missing now)."""
    base = pins(base_freeze)
    out = []
    for name in packages:
        want = base.get(canonical(name), (name, None))[1]
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if want is None or have != want:
            out.append(f"{name}: image {want}, now {have}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "merge":
        sys.stdout.write(merge(Path(argv[1]).read_text(), Path(argv[2]).read_text()))
        return 0
    if len(argv) >= 3 and argv[0] == "verify":
        bad = changed(Path(argv[1]).read_text(), argv[2:])
        for line in bad:
            print(f"reinstalled over the base image: {line}", file=sys.stderr)
        return 1 if bad else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
