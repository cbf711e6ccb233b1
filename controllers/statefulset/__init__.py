"""The StatefulSet controller (apps/v1): ordered, stable pods; see :mod:`controllers.statefulset.controller`."""
