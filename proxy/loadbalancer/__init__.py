"""LoadBalancer Services: addresses from a pool, and nginx in front of the nodes (see ``controller``)."""
