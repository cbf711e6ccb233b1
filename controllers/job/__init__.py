"""The Job controller (batch/v1): run pods to completion; see :mod:`controllers.job.controller`."""
