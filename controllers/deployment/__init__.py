"""The Deployment controller, one module per concern (DESIGN.md §6), after Kubernetes' layout:

- ``controller.py``: ``DeploymentController`` — informer handlers and ``sync(key)`` dispatch;
- ``sync.py``: what every strategy shares — claiming ReplicaSets, the new ReplicaSet and its
  revision, scaling (proportional during a rollout), history cleanup, paused deployments;
- ``rolling.py`` / ``recreate.py``: the two strategies;
- ``rollback.py``: a template equal to an old ReplicaSet's reuses it as the newest revision;
- ``progress.py``: status, the Progressing condition and the progress deadline;
- ``util.py``: pure helpers (fenceposts, pod-template-hash, annotations, conditions).

The controller only manages ReplicaSets and the Deployment's status; pods are the ReplicaSet
controller's job.
"""

from controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
