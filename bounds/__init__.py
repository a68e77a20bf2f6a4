"""bounds: the theory core of revkl.

Divergences and the weak-to-strong losses (`bounds.divergences`), theorems as checkable
objects (`bounds.theorems`), certified solvers for the strong model's fit
(`bounds.solvers`), symbolic derivations (`bounds.derivations`). Imports no other revkl package.
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
