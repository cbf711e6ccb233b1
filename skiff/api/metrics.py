"""What the kubelets' ``Stats`` and the apiserver's ``Metrics`` services (metrics.proto) share.

One kubelet process may serve several nodes (``--nodes N`` with the fake runtime), so a
``Kubelet.Stats`` call names its node in gRPC metadata under :data:`NODE_METADATA_KEY`: the
apiserver sends it, the kubelet reads it (a process serving one node answers without it).
"""

from __future__ import annotations

NODE_METADATA_KEY = "skiff-node-name"
