"""Write requirements.lock from the venv: every pip-installed distribution, pinned.

Skips torch (installed first, from its exact CPU build), nemuri itself (editable), and
the metadata that the ROS wheels and our cmake build drop into site-packages without pip
(those names are not on PyPI). Run by `make lock` after adding a dependency.
"""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

SKIP = {"pip", "setuptools", "wheel", "torch", "nemuri"}


def main() -> int:
    pins = set()
    for dist in md.distributions():
        name = dist.metadata["Name"]
        installer = (dist.read_text("INSTALLER") or "").strip()
        if installer != "pip" or name.lower() in SKIP or dist.read_text("direct_url.json"):
            continue
        pins.add(f"{name}=={dist.version}")
    header = (
        "# Pinned by tools/lock.py (make lock). torch==2.13.0 is installed first, separately.\n"
    )
    Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock").write_text(
        header + "\n".join(sorted(pins, key=str.lower)) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
