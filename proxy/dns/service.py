"""The ``kube-system/kube-dns`` Service: the cluster DNS address, reserved and discoverable.

Pods are told to ask the cluster DNS address (the kubelet's ``--cluster-dns``); the proxy of every
node answers there (see :mod:`proxy.dns.server`). As in a kubeadm cluster, that address is the
cluster IP of the Service ``kube-dns`` in ``kube-system`` (ports ``dns`` 53/UDP, ``dns-tcp``
53/TCP, ``metrics`` 9153/TCP, labels ``k8s-app: kube-dns``, ``kubernetes.io/cluster-service``,
``kubernetes.io/name: CoreDNS``): creating it reserves the address in the apiserver's allocator,
so no other Service is given it, and ``skiffctl cluster-info`` lists it. No pod carries its
selector, so it has no endpoints and the proxy keeps no forwarding listener on it — the DNS server
itself holds the address. The proxy creates the Service when it is missing; one with another
cluster IP, or an address the apiserver refuses, is logged and DNS is served anyway.
"""

from __future__ import annotations

import logging
from typing import cast

from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client

log = logging.getLogger("skiff.proxy.dns")

NAMESPACE, NAME = "kube-system", "kube-dns"


def kube_dns_service(cluster_ip: str) -> core_pb2.Service:
    labels = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}
    return cast(core_pb2.Service, from_manifest({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {"clusterIP": cluster_ip, "selector": {"k8s-app": "kube-dns"},
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                           {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}}))


async def ensure_kube_dns_service(client: Client, cluster_ip: str) -> bool:
    """Create the Service if it is missing; True when it exists with ``cluster_ip``."""
    try:
        await client.create(kube_dns_service(cluster_ip))
        log.info("created Service %s/%s with cluster IP %s", NAMESPACE, NAME, cluster_ip)
        return True
    except errors.AlreadyExists:
        existing = await client.get(core_pb2.Service, NAME, namespace=NAMESPACE)
        if existing.spec.cluster_ip == cluster_ip:
            return True
        log.warning("Service %s/%s has cluster IP %s, not the cluster DNS address %s; pods are told to ask %s",
                    NAMESPACE, NAME, existing.spec.cluster_ip, cluster_ip, cluster_ip)
        return False
    except errors.Invalid as exc:
        log.warning("cannot reserve the cluster DNS address %s as Service %s/%s: %s", cluster_ip, NAMESPACE, NAME,
                    exc)
        return False
