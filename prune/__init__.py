"""Structured L1-norm channel pruning of frozen SR graphs (issue 4).

Public entry points::

    from sropt.prune import PruneConfig, prune_model
    result = prune_model("EDSR_x3.pb", PruneConfig(ratio=0.25, scope="inner"), "out.pb")

Channel groups come from ``sropt.convert.groups``; see docs/prune.md.
"""

from sropt.prune.config import Compensation, PruneConfig, Scope, WeightStore
from sropt.prune.stage import GroupOutcome, ModelCost, PruneResult, prune_model

__all__ = ["Compensation", "GroupOutcome", "ModelCost", "PruneConfig", "PruneResult", "Scope", "WeightStore", "prune_model"]
