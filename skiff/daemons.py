"""``skiff``: one command for every daemon — ``skiff apiserver``, ``skiff up``, and the node and
control-plane components as they land. Each subcommand's own module parses its flags."""

from __future__ import annotations

import sys

USAGE = """usage: skiff COMMAND [flags]

commands:
  up            start a whole local cluster (etcd, apiserver, ...) from one command
  apiserver     the API server (gRPC over etcd)
  scheduler     assigns pending pods to nodes
  controller-manager  the controllers (Deployments, StatefulSets, DaemonSets, Jobs, Endpoints, ...)
  kubelet       runs the pods bound to this node (or N hollow nodes with --runtime fake)
  proxy         forwards Service traffic (cluster IPs, NodePorts) to ready endpoints; cluster DNS
  loadbalancer  nginx in front of the nodes: addresses for LoadBalancer Services

Run 'skiff COMMAND --help' for a command's flags."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command == "apiserver":
        from apiserver.server.app import main as apiserver_main

        return apiserver_main(rest)
    if command == "scheduler":
        from scheduler.app import main as scheduler_main

        return scheduler_main(rest)
    if command == "controller-manager":
        from controllers.app import main as controller_manager_main

        return controller_manager_main(rest)
    if command == "kubelet":
        from kubelet.app import main as kubelet_main

        return kubelet_main(rest)
    if command == "proxy":
        from proxy.app import main as proxy_main

        return proxy_main(rest)
    if command == "loadbalancer":
        from proxy.loadbalancer.app import main as loadbalancer_main

        return loadbalancer_main(rest)
    if command == "up":
        from skiff.up import main as up_main

        return up_main(rest)
    print(f"skiff: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
