"""The scheduling framework: extension points, Status values, cycle state and node views.

A pod is scheduled in one *cycle*: PreFilter (once per pod) → Filter (per node) → PreScore →
Score (per feasible node) → NormalizeScore → pick the best node → Reserve → Bind (async). Each
plugin implements the Protocols of the points it takes part in (scheduler.framework.interface);
results are always a :class:`Status`, never None. See scheduler.framework.runtime for the loop.
"""

from scheduler.framework.interface import (
    BindPlugin,
    FilterPlugin,
    Plugin,
    PreFilterPlugin,
    PreScorePlugin,
    ReservePlugin,
    ScorePlugin,
)
from scheduler.framework.status import Code, Status
from scheduler.framework.types import CycleState, NodeInfo, PodInfo, Resources

__all__ = ["BindPlugin", "Code", "CycleState", "FilterPlugin", "NodeInfo", "Plugin", "PodInfo", "PreFilterPlugin",
           "PreScorePlugin", "ReservePlugin", "Resources", "ScorePlugin", "Status"]
