"""Copy serve_config.yaml into kuberay/rayservice.yaml: `python cluster/sync_serve_config.py [--check]`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVE_CONFIG = ROOT / "serve_config.yaml"
RAYSERVICE = Path(__file__).resolve().parent / "kuberay" / "rayservice.yaml"
BLOCK = re.compile(r"(  serveConfigV2: \|\n)(.*?)(?=\n  rayClusterConfig:)", re.S)


def rendered_block() -> str:
    """serve_config.yaml without comments, listening on all interfaces (the pod's Serve port)."""
    lines = [ln for ln in SERVE_CONFIG.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    text = "\n".join(lines)
    text = re.sub(r"(?m)^(\s*host:\s*).*$", r"\g<1>0.0.0.0", text, count=1)
    return "\n".join("    " + ln for ln in text.splitlines())


def synced_text() -> str:
    current = RAYSERVICE.read_text()
    if not BLOCK.search(current):
        raise SystemExit(f"{RAYSERVICE}: no 'serveConfigV2: |' block followed by 'rayClusterConfig:'")
    return BLOCK.sub(lambda m: m.group(1) + rendered_block(), current, count=1)


def main(argv: list[str]) -> int:
    new = synced_text()
    if "--check" in argv:
        if new != RAYSERVICE.read_text():
            print(f"{RAYSERVICE} is out of date: run python cluster/sync_serve_config.py", file=sys.stderr)
            return 1
        return 0
    RAYSERVICE.write_text(new)
    print(f"updated {RAYSERVICE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
