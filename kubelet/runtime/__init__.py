"""Container runtimes: one interface (interface.py, and labels.py: the labels all of them stamp),
three implementations — docker (real containers through the Docker Engine API), process (host
processes, the embedded default) and fake (nothing runs; a hollow node for scale tests)."""
