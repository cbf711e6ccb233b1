"""``python -m kubelet.runtime.process shim <container dir>``: the entry point of a container's shim
(see ``shim``), which the runtime starts in its own session for each container."""

import sys
from pathlib import Path

from kubelet.runtime.process.shim import shim_main

if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "shim":
    sys.exit(shim_main(Path(sys.argv[2])))
