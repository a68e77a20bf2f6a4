r"""Divergences between categorical distributions: THE implementation every part of revkl uses.

Each function works on NumPy arrays and on PyTorch tensors (differentiable), batched over
leading dimensions, with the classes on the last axis. Distributions are held as
:class:`Categorical` (log-probabilities), built from probabilities, k-class logits, or a
binary scalar logit / probability, so each formula below is written once, in log space.

Conventions (as in ``scipy.special.rel_entr``):

* :math:`0 \log 0 = 0` and :math:`0 \log(0/q) = 0`: classes with ``p = 0`` contribute nothing.
* :math:`p \log(p/0) = +\infty`: a divergence whose second argument misses mass of the first
  is ``+inf``. There is no silent clamp; to get a finite value ask for it explicitly with
  :meth:`Categorical.smoothed`, which mixes in the uniform distribution.
* A NaN anywhere (e.g. in logits passed with ``validate=False``) propagates to the result.

Weak-to-strong losses take ``(strong, weak)``, the model being trained first (as
``torch.nn.functional`` takes ``(input, target)``):

===========================  ==============================================================
``forward_kl(s, w)``         :math:`\mathrm{KL}(F_w \,\|\, F_{sw})` (= CE minus weak entropy)
``reverse_kl(s, w)``         :math:`\mathrm{KL}(F_{sw} \,\|\, F_w)`
``cross_entropy_loss(s, w)`` :math:`-\sum_i F_{w,i} \log F_{sw,i}`
``reverse_cross_entropy(s, w)`` :math:`-\sum_i F_{sw,i} \log F_{w,i}` (= reverse KL + H(F_sw))
===========================  ==============================================================
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import numpy as np

from bounds.backend import Array, as_array, is_torch, ops, torch

Reduction = Literal["none", "mean", "sum"]

#: Default tolerance on |sum(p) - 1| and on negative entries for probability inputs.
PROB_ATOL = 1e-6


class Categorical:
    """A batch of categorical distributions over the last axis, stored as log-probabilities.

    Build one with :meth:`from_probs`, :meth:`from_logits`, :meth:`from_binary_logit` or
    :meth:`from_binary_probs`; ``name`` is used in error messages.
    """

    __slots__ = ("log_probs", "name")

    def __init__(self, log_probs: Array, name: str = "distribution") -> None:
        self.log_probs = log_probs
        self.name = name

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def from_probs(
        cls, probs: Any, *, name: str = "probs", atol: float = PROB_ATOL, validate: bool = True
    ) -> "Categorical":
        """Probabilities on the last axis. Entries in [-atol, 0) are set to 0; sums must be 1 ± atol."""
        p = as_array(probs)
        if validate:
            p = check_probs(p, name=name, atol=atol)
        o = ops(p)
        with _quiet_log():
            return cls(o.log(p), name)

    @classmethod
    def from_logits(cls, logits: Any, *, name: str = "logits", validate: bool = True) -> "Categorical":
        """Unnormalised log-probabilities (k-class logits) on the last axis; -inf marks a zero class."""
        z = as_array(logits)
        if validate:
            _check_ndim(z, name, 1)
            _check_logits(z, name)
        return cls(ops(z).log_softmax(z), name)

    @classmethod
    def from_binary_logit(cls, logit: Any, *, name: str = "logit", validate: bool = True) -> "Categorical":
        r"""A scalar logit z per example: the two-class distribution (1 - sigma(z), sigma(z)).

        Class 1 is the positive class (for a preference pair: 'chosen is better'), so this is
        exactly ``from_logits`` applied to the logits (0, z).
        """
        z = as_array(logit)
        if validate:
            _check_logits(z, name)
        o = ops(z)
        return cls(o.stack([o.logsigmoid(-z), o.logsigmoid(z)]), name)

    @classmethod
    def from_binary_probs(
        cls, prob: Any, *, name: str = "prob", atol: float = PROB_ATOL, validate: bool = True
    ) -> "Categorical":
        """A probability q of the positive class per example: the distribution (1 - q, q)."""
        q = as_array(prob)
        o = ops(q)
        if validate:
            if o.any(o.isnan(q)):
                raise ValueError(f"{name}: contains NaN")
            if o.any(q < -atol) or o.any(q > 1 + atol):
                raise ValueError(f"{name}: probabilities must lie in [0, 1] (min {o.min(q):.3g}, max {o.max(q):.3g})")
            q = o.where(q < 0, o.zeros_like(q), o.where(q > 1, o.full_like(q, 1.0), q))
        with _quiet_log():
            return cls(o.stack([o.log(1 - q), o.log(q)]), name)

    # -- views ----------------------------------------------------------------------------
    @property
    def probs(self) -> Array:
        return ops(self.log_probs).exp(self.log_probs)

    @property
    def num_classes(self) -> int:
        return int(self.log_probs.shape[-1])

    def smoothed(self, eps: float) -> "Categorical":
        r"""The explicit floor: :math:`(1-\varepsilon)\,p + \varepsilon/k`, computed in log space.

        Every class then has probability at least eps/k, so reverse divergences against it are finite.
        """
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"smoothing eps must lie in [0, 1], got {eps}")
        if eps == 0.0:
            return self
        o = ops(self.log_probs)
        lp = self.log_probs
        with _quiet_log():
            mixed = o.logaddexp(lp + np.log1p(-eps) if eps < 1 else o.full_like(lp, -np.inf), o.full_like(lp, np.log(eps / self.num_classes)))
        return Categorical(mixed, f"{self.name} (smoothed {eps:g})")

    def __repr__(self) -> str:
        return f"Categorical(name={self.name!r}, shape={tuple(self.log_probs.shape)})"


# -- divergences -------------------------------------------------------------------------


def entropy(p: Categorical | Any, *, reduction: Reduction = "none", weights: Any = None) -> Array:
    r""":math:`H(p) = -\sum_i p_i \log p_i`, with :math:`0 \log 0 = 0`."""
    P = _coerce(p, "p")
    o = ops(P.log_probs)
    pr = P.probs
    safe = o.where(pr != 0, P.log_probs, o.zeros_like(P.log_probs))
    return _reduce(-o.sum(pr * safe), reduction, weights)


def kl(p: Categorical | Any, q: Categorical | Any, *, reduction: Reduction = "none", weights: Any = None) -> Array:
    r""":math:`\mathrm{KL}(p\,\|\,q) = \sum_i p_i \log(p_i/q_i)`; 0 where p_i = 0, +inf where p_i > 0 = q_i.

    Summed in the form :math:`\sum_i [p_i \log(p_i/q_i) - p_i + q_i] = \sum_i p_i\,(e^{d_i} - 1 - d_i)`,
    :math:`d_i = \log q_i - \log p_i` (equal to KL when both rows sum to 1): every term is >= 0, and
    for |d_i| < 1 it is computed as p_i (expm1(d_i) - d_i), which keeps its relative accuracy as
    q -> p (the plain form loses everything below ~1e-16 * H(p) to cancellation).
    """
    P, Q = _pair(p, q, "p", "q")
    a, b = P.log_probs, Q.log_probs
    if is_torch(a) and torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
        return _reduce(_KLFunction.apply(a, b), reduction, weights)
    return _reduce(_kl_rows(a, b), reduction, weights)


def _kl_rows(a: Array, b: Array) -> Array:
    """The row sums of :func:`kl`'s terms from log-probabilities ``a = log p``, ``b = log q``."""
    o = ops(a)
    pr, qr = o.exp(a), o.exp(b)
    pos = pr != 0  # not "> 0": a NaN must propagate, never be masked as an empty class
    d = o.where(pos, b - o.where(pos, a, o.zeros_like(a)), o.zeros_like(a))
    small = o.clip(d, -1.0, 1.0)  # clipped so the unused branch never produces inf
    near = pr * (o.expm1(small) - small)
    with _quiet_log():
        far = qr - pr - pr * d
    return o.sum(o.where(pos, o.where(o.abs(d) < 1.0, near, far), qr))


if torch is not None:

    class _KLFunction(torch.autograd.Function):
        r""":func:`_kl_rows` with its gradient in closed form, so training does not record the branches of
        the accurate sum: for :math:`f = \sum_i [q_i - p_i - p_i (b_i - a_i)]`,
        :math:`\partial f/\partial a_i = p_i (a_i - b_i)` (0 where :math:`p_i = 0`) and
        :math:`\partial f/\partial b_i = q_i - p_i`."""

        @staticmethod
        def forward(ctx: Any, a: "torch.Tensor", b: "torch.Tensor") -> "torch.Tensor":
            ctx.save_for_backward(a, b)
            return _kl_rows(a, b)

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx: Any, g: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            a, b = ctx.saved_tensors
            pr, qr = a.exp(), b.exp()
            g = g.unsqueeze(-1)
            grad_a = g * torch.where(pr != 0, pr * (a - b), torch.zeros_like(pr))
            return grad_a, g * (qr - pr)


def cross_entropy(p: Categorical | Any, q: Categorical | Any, *, reduction: Reduction = "none", weights: Any = None) -> Array:
    r""":math:`\mathrm{CE}(p, q) = -\sum_i p_i \log q_i = H(p) + \mathrm{KL}(p\,\|\,q)`."""
    P, Q = _pair(p, q, "p", "q")
    o = ops(P.log_probs)
    pr = P.probs
    pos = pr != 0  # not "> 0": a NaN must propagate, never be masked as an empty class
    lq = o.where(pos, Q.log_probs, o.zeros_like(Q.log_probs))
    return _reduce(-o.sum(o.where(pos, pr * lq, o.zeros_like(pr))), reduction, weights)


def total_variation(p: Categorical | Any, q: Categorical | Any, *, reduction: Reduction = "none", weights: Any = None) -> Array:
    r""":math:`\mathrm{TV}(p, q) = \tfrac12 \sum_i |p_i - q_i|`."""
    P, Q = _pair(p, q, "p", "q")
    o = ops(P.log_probs)
    return _reduce(0.5 * o.sum(o.abs(P.probs - Q.probs)), reduction, weights)


# -- weak-to-strong losses: (strong, weak) -------------------------------------------------


def forward_kl(strong: Categorical | Any, weak: Categorical | Any, **kw: Any) -> Array:
    r"""Forward KL, the usual weak-to-strong loss: :math:`\mathrm{KL}(F_w \,\|\, F_{sw})`."""
    S, W = _pair(strong, weak, "strong", "weak")
    return kl(W, S, **kw)


def reverse_kl(strong: Categorical | Any, weak: Categorical | Any, **kw: Any) -> Array:
    r"""Reverse KL: :math:`\mathrm{KL}(F_{sw} \,\|\, F_w)`; mode seeking, zero forcing."""
    S, W = _pair(strong, weak, "strong", "weak")
    return kl(S, W, **kw)


def cross_entropy_loss(strong: Categorical | Any, weak: Categorical | Any, **kw: Any) -> Array:
    r"""Cross-entropy on soft weak labels: :math:`-\sum_i F_{w,i}\log F_{sw,i}` (= forward KL + H(F_w))."""
    S, W = _pair(strong, weak, "strong", "weak")
    return cross_entropy(W, S, **kw)


def reverse_cross_entropy(strong: Categorical | Any, weak: Categorical | Any, **kw: Any) -> Array:
    r"""Reverse cross-entropy: :math:`-\sum_i F_{sw,i}\log F_{w,i}` (= reverse KL + H(F_sw))."""
    S, W = _pair(strong, weak, "strong", "weak")
    return cross_entropy(S, W, **kw)


def symmetric_kl(strong: Categorical | Any, weak: Categorical | Any, **kw: Any) -> Array:
    r"""Symmetric KL, the mean of both directions: :math:`\tfrac12[\mathrm{KL}(F_w\|F_{sw}) + \mathrm{KL}(F_{sw}\|F_w)]`."""
    S, W = _pair(strong, weak, "strong", "weak")
    return 0.5 * (kl(W, S, **kw) + kl(S, W, **kw))


LossFn = Callable[..., Array]

#: Name -> loss. The registry every trainer in revkl looks losses up in.
LOSSES: dict[str, LossFn] = {
    "forward_kl": forward_kl,
    "reverse_kl": reverse_kl,
    "ce": cross_entropy_loss,
    "rce": reverse_cross_entropy,
    "symmetric_kl": symmetric_kl,
}

#: Which misfit direction each loss trains: 'forward' = KL(F_w || F_sw), 'reverse' = KL(F_sw || F_w),
#: 'symmetric' = the mean of both.
LOSS_DIRECTION: dict[str, str] = {"forward_kl": "forward", "ce": "forward", "reverse_kl": "reverse", "rce": "reverse",
                                  "symmetric_kl": "symmetric"}


def get_loss(name: str) -> LossFn:
    """Look up a loss by name, with a message listing the known names."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(sorted(LOSSES))}") from None


def misfit(strong: Categorical | Any, weak: Categorical | Any, direction: str, **kw: Any) -> Array:
    """Disagreement in the direction a loss trains: 'forward' -> KL(F_w||F_sw), 'reverse' -> KL(F_sw||F_w)."""
    if direction == "forward":
        return forward_kl(strong, weak, **kw)
    if direction == "reverse":
        return reverse_kl(strong, weak, **kw)
    raise ValueError(f"misfit direction must be 'forward' or 'reverse', got {direction!r}")


# -- validation and plumbing ---------------------------------------------------------------


def check_probs(p: Array, *, name: str = "probs", atol: float = PROB_ATOL) -> Array:
    """Validate probabilities on the last axis; return them with tiny negatives set to 0, rows renormalised.

    Raises ValueError naming ``name`` for: no class axis, NaN or inf, entries below -atol,
    rows whose sum differs from 1 by more than atol.
    """
    p = as_array(p)
    o = ops(p)
    _check_ndim(p, name, 1)
    if p.shape[-1] < 1:
        raise ValueError(f"{name}: needs at least one class on the last axis, got shape {tuple(p.shape)}")
    if o.any(~o.isfinite(p)):
        raise ValueError(f"{name}: contains NaN or inf")
    if o.any(p < -atol):
        raise ValueError(f"{name}: probabilities must be non-negative (min {o.min(p):.3g})")
    p = o.where(p < 0, o.zeros_like(p), p)
    total = o.sum(p)
    dev = o.abs(total - 1.0)
    if o.any(dev > atol):
        raise ValueError(f"{name}: each row must sum to 1 within {atol:g} (worst |sum - 1| = {o.max(dev):.3g})")
    return p / total[..., None]


def _check_ndim(x: Array, name: str, ndim: int) -> None:
    if x.ndim < ndim:
        raise ValueError(f"{name}: expected an array with classes on the last axis, got a scalar")


def _check_logits(z: Array, name: str) -> None:
    o = ops(z)
    if o.any(o.isnan(z)):
        raise ValueError(f"{name}: contains NaN")
    if o.any(z == np.inf):
        raise ValueError(f"{name}: contains +inf")


def _coerce(x: Categorical | Any, name: str) -> Categorical:
    """Categoricals pass through; raw arrays are read as probabilities (validated)."""
    if isinstance(x, Categorical):
        return x
    return Categorical.from_probs(x, name=name)


def _pair(a: Categorical | Any, b: Categorical | Any, na: str, nb: str) -> tuple[Categorical, Categorical]:
    A, B = _coerce(a, na), _coerce(b, nb)
    sa, sb = tuple(A.log_probs.shape), tuple(B.log_probs.shape)
    if is_torch(A.log_probs) != is_torch(B.log_probs):
        raise ValueError(f"{A.name} and {B.name} must both be torch tensors or both be NumPy arrays")
    if sa[-1:] != sb[-1:]:
        raise ValueError(f"shape mismatch: {A.name} has {sa[-1]} classes (shape {sa}), {B.name} has {sb[-1]} (shape {sb})")
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(f"shape mismatch: {A.name} has shape {sa}, {B.name} has shape {sb}") from None
    return A, B


def _reduce(values: Array, reduction: Reduction, weights: Any) -> Array:
    """Reduce per-example values (never over classes: they are already summed).

    With ``weights`` the mean is sum(w * v) / sum(w); examples of weight 0 contribute 0 even
    where v is infinite.
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    if reduction == "none":
        return values
    o = ops(values)
    if weights is None:
        total = values.sum()
        return total / max(int(np.prod(tuple(values.shape))), 1) if reduction == "mean" else total
    w = as_array(weights)
    if is_torch(values) and not is_torch(w):
        import torch

        w = torch.as_tensor(w, dtype=values.dtype, device=values.device)
    if tuple(w.shape) != tuple(values.shape):
        raise ValueError(f"weights: shape {tuple(w.shape)} does not match the batch shape {tuple(values.shape)}")
    total = o.where(w > 0, values * w, o.zeros_like(values)).sum()
    return total / w.sum() if reduction == "mean" else total


class _quiet_log:
    """Silence NumPy's divide-by-zero warning for log(0) = -inf, which is intended here."""

    def __enter__(self) -> None:
        self._old = np.seterr(divide="ignore")

    def __exit__(self, *exc: object) -> None:
        np.seterr(**self._old)
