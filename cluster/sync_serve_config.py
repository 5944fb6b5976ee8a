"""Copy the Serve configs into their RayServices' serveConfigV2: `python cluster/sync_serve_config.py [--check]`.

serve_config.yaml -> kuberay/rayservice.yaml (CPU images), cluster/serve_config.gpu.yaml -> kuberay/rayservice.gpu.yaml
(vLLM through Ray Serve LLM). --check changes nothing and fails when any RayService differs from its Serve config.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CLUSTER = Path(__file__).resolve().parent
ROOT = CLUSTER.parent
PAIRS = [
    (ROOT / "serve_config.yaml", CLUSTER / "kuberay" / "rayservice.yaml"),
    (CLUSTER / "serve_config.gpu.yaml", CLUSTER / "kuberay" / "rayservice.gpu.yaml"),
]
BLOCK = re.compile(r"(  serveConfigV2: \|\n)(.*?)(?=\n  rayClusterConfig:)", re.S)


def rendered_block(serve_config: Path) -> str:
    """The Serve config without comments, listening on all interfaces (the pod's Serve port)."""
    lines = [ln for ln in serve_config.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    text = "\n".join(lines)
    text = re.sub(r"(?m)^(\s*host:\s*).*$", r"\g<1>0.0.0.0", text, count=1)
    return "\n".join("    " + ln for ln in text.splitlines())


def synced_text(serve_config: Path, rayservice: Path) -> str:
    current = rayservice.read_text()
    if not BLOCK.search(current):
        raise SystemExit(f"{rayservice}: no 'serveConfigV2: |' block followed by 'rayClusterConfig:'")
    return BLOCK.sub(lambda m: m.group(1) + rendered_block(serve_config), current, count=1)


def main(argv: list[str]) -> int:
    stale = []
    for serve_config, rayservice in PAIRS:
        new = synced_text(serve_config, rayservice)
        if new == rayservice.read_text():
            continue
        if "--check" in argv:
            stale.append(rayservice)
        else:
            rayservice.write_text(new)
            print(f"updated {rayservice} from {serve_config.name}")
    for path in stale:
        print(f"{path} is out of date: run python cluster/sync_serve_config.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
