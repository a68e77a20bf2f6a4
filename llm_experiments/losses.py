r"""The training objectives, wired to ``bounds`` (no second copy of any loss lives here).

Outputs of a model become distributions through :func:`distribution`:
pairs: ``Categorical.from_binary_logit(z)`` = (1 - sigma(z), sigma(z)), z = r(chosen) - r(rejected);
classify: ``Categorical.from_logits(logits)``. Weak labels are kept as the weak model's logits, so
the reverse losses :math:`\mathrm{KL}(F_{sw}\|F_w)` and :math:`-\sum F_{sw}\log F_w` use
``log sigma(z_w)`` computed stably and stay finite even where sigma(z_w) rounds to 0 or 1.

The objective of one batch, with base loss L from ``bounds.LOSSES``:

.. math::
    (1-\alpha)\,[(1-\beta) L(F_{sw}, F_w) + \beta \bar L(F_{sw}, F_w)]
    + \alpha\, \mathrm{CE}(\mathrm{onehot}(\arg\max F_{sw}), F_{sw})

where :math:`\bar L` is the mirrored loss (forward KL <-> reverse KL, CE <-> reverse CE),
:math:`\beta` = ``mirror_weight`` and :math:`\alpha` = ``aux_conf``, the auxiliary confidence loss
of Burns et al. (2023) with hard (argmax, no gradient) self-labels.
"""

from __future__ import annotations

import torch

from bounds import Categorical, cross_entropy_loss, get_loss

MIRROR = {"forward_kl": "reverse_kl", "reverse_kl": "forward_kl", "ce": "rce", "rce": "ce"}


def distribution(logits: torch.Tensor, task: str, *, validate: bool = True) -> Categorical:
    """Model outputs as a Categorical: binary logit z (n,) for pairs, (n, k) logits for classify.

    ``validate=False`` skips the NaN/inf scan (two host syncs on a GPU); the training step uses it
    and checks the loss value instead, which a NaN or inf logit would also make non-finite.
    """
    if task == "pairs":
        return Categorical.from_binary_logit(logits, name="strong logit", validate=validate)
    if task == "classify":
        return Categorical.from_logits(logits, name="strong logits", validate=validate)
    raise ValueError(f"task must be 'pairs' or 'classify', got {task!r}")


def ground_truth(labels: torch.Tensor, num_classes: int) -> Categorical:
    """One-hot F* from integer labels (log-probabilities 0 and -inf)."""
    onehot = torch.nn.functional.one_hot(labels.long(), num_classes).to(torch.float64)
    return Categorical.from_probs(onehot, name="ground truth")


def objective(strong: Categorical, target: Categorical, loss: str, *, aux_conf: float = 0.0,
              mirror_weight: float = 0.0) -> torch.Tensor:
    """Mean batch objective (see module docstring); ``loss`` is a ``bounds.LOSSES`` name."""
    value = get_loss(loss)(strong, target, reduction="mean")
    if mirror_weight:
        value = (1 - mirror_weight) * value + mirror_weight * get_loss(MIRROR[loss])(strong, target, reduction="mean")
    if aux_conf:
        hard = torch.nn.functional.one_hot(strong.log_probs.detach().argmax(-1), strong.num_classes)
        value = (1 - aux_conf) * value + aux_conf * cross_entropy_loss(
            strong, Categorical.from_probs(hard.to(strong.log_probs.dtype), name="self labels"), reduction="mean")
    return value
