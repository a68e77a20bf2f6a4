"""bounds: the theory core of revkl.

Divergences and the weak-to-strong losses (`bounds.divergences`), instances and their quantities
with rounding-error estimates (`bounds.quantities`), theorems as checkable objects (`bounds.theorems`),
certified solvers for the strong model's fit (`bounds.solvers`), a user's arrays checked
(`bounds.check`), symbolic derivations (`bounds.derivations`). Imports no other revkl package
(only revkl_core.runfolder, which sits below everything).
"""

from bounds.divergences import (
    LOSS_DIRECTION,
    LOSSES,
    Categorical,
    cross_entropy,
    cross_entropy_loss,
    entropy,
    forward_kl,
    get_loss,
    kl,
    misfit,
    reverse_cross_entropy,
    reverse_kl,
    total_variation,
)

__all__ = [
    "LOSSES",
    "LOSS_DIRECTION",
    "Categorical",
    "cross_entropy",
    "cross_entropy_loss",
    "entropy",
    "forward_kl",
    "get_loss",
    "kl",
    "misfit",
    "reverse_cross_entropy",
    "reverse_kl",
    "total_variation",
]
