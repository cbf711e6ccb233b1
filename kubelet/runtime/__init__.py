"""Container runtimes: one interface (interface.py), three implementations — docker (real
containers through the Docker Engine API), process (host processes, the embedded default) and
fake (nothing runs; a hollow node for scale tests)."""
