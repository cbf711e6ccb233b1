"""Cluster DNS inside ``skiff proxy``: what it answers (:mod:`proxy.dns.records`), from Services and Endpoints."""
