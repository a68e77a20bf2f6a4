r"""Hypothesis classes for the strong model's last layer, batched over a leading axis B.

Every class maps parameters to predictions ``(B, n, k)``: row j is :math:`F(x_j)` in the simplex.

* :class:`StochasticMatrixClass` -- :math:`F(x) = A\,h(x)` with :math:`h(x) \in \Delta^{m}` and
  :math:`A \in \mathbb{R}^{k\times m}` column-stochastic. Convex in probability space.
* :class:`MixtureClass` -- :math:`F(x) = \sum_l \alpha_l G_l(x)` with fixed heads :math:`G_l` and
  :math:`\alpha \in \Delta^{L}`. Convex in probability space.
* :class:`SoftmaxLinearClass` -- :math:`F(x) = \mathrm{softmax}(W h(x))`, :math:`W \in \mathbb{R}^{k\times d}`.
  Convex in logit space, NOT in probability space.

The two probability-convex classes are linear maps of a parameter :math:`\theta` that lives in a
product of simplices; they expose that structure (``blocks``) to the certified solver in
:mod:`bounds.solvers`. Parameters of those classes are stored as ``theta`` with shape
``(B, num_blocks, block_size)``; ``params_view`` turns it into the natural shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from bounds.divergences import check_probs


def _as_batched(x: np.ndarray, name: str, ndim: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == ndim - 1:
        x = x[None]
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim - 1} or {ndim} dimensions (batched), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or inf")
    return x


#: Relative ridge on Newton systems. It only steers the search (a near-singular system arises when
#: a feature column is ~0 for every sample); optimality is judged by the independent certificate.
_RIDGE = 1e-13


def _scale(M: np.ndarray) -> np.ndarray:
    """Largest diagonal entry of each matrix, broadcastable onto the diagonal."""
    return np.abs(np.diagonal(M, axis1=-2, axis2=-1)).max(-1, keepdims=True) + 1e-300


@dataclass(frozen=True)
class StochasticMatrixClass:
    r""":math:`F(x_j) = A h_j`, :math:`A` column-stochastic (k x m), :math:`h_j \in \Delta^m`.

    ``theta[b, c, i] = A[b, i, c]``: one simplex block per column c of A.
    """

    features: np.ndarray  # (B, n, m), rows in the simplex
    num_classes: int
    kind = "probability-convex"

    def __post_init__(self) -> None:
        h = _as_batched(self.features, "features", 3)
        check_probs(h, name="features (rows of h must lie in the simplex)")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        object.__setattr__(self, "features", h)

    @property
    def batch(self) -> int:
        return self.features.shape[0]

    @property
    def n(self) -> int:
        return self.features.shape[1]

    @property
    def blocks(self) -> tuple[int, int]:
        """(number of simplex blocks, size of each): m columns of size k."""
        return self.features.shape[2], self.num_classes

    def predict(self, theta: np.ndarray) -> np.ndarray:
        return self.features @ theta

    def adjoint(self, grad_pred: np.ndarray) -> np.ndarray:
        """Gradient with respect to theta of <grad_pred, predict(theta)>."""
        return np.swapaxes(self.features, 1, 2) @ grad_pred

    def params_view(self, theta: np.ndarray) -> np.ndarray:
        """A with shape (B, k, m)."""
        return np.swapaxes(theta, 1, 2)

    def newton_system(self, curv: np.ndarray, D: np.ndarray, rhs: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Solve :math:`(J^T \mathrm{diag}(curv) J + \mathrm{diag}(D))\,\Delta + E^T \nu = rhs`, :math:`E\Delta = s`.

        The Hessian is block diagonal over classes i (each block m x m: :math:`\sum_j c_{ji} h_j h_j^T`),
        and E sums each column of A, so nu (one per column) is eliminated with k small solves.
        curv (B, n, k); D, rhs (B, m, k); s (B, m). Returns (Delta (B, m, k), nu (B, m)).
        """
        h = self.features
        B, n, m = h.shape
        outer = (h[:, :, :, None] * h[:, :, None, :]).reshape(B, n, m * m)
        K = (np.swapaxes(curv, 1, 2) @ outer).reshape(B, -1, m, m)  # (B, k, m, m)
        K[..., np.arange(m), np.arange(m)] += np.swapaxes(D, 1, 2) + _RIDGE * _scale(K)
        Kinv = np.linalg.inv(K)
        r_i = np.swapaxes(rhs, 1, 2)[..., None]  # (B, k, m, 1)
        Kr = (Kinv @ r_i)[..., 0]  # (B, k, m)
        S = Kinv.sum(axis=1)  # (B, m, m)
        S[..., np.arange(m), np.arange(m)] += _RIDGE * _scale(S)
        nu = np.linalg.solve(S, (Kr.sum(axis=1) - s)[..., None])[..., 0]
        delta = Kr - (Kinv @ nu[:, None, :, None])[..., 0]
        return np.swapaxes(delta, 1, 2), nu


@dataclass(frozen=True)
class MixtureClass:
    r""":math:`F(x_j) = \sum_l \alpha_l G_l(x_j)`, :math:`\alpha \in \Delta^L`. ``theta[b, 0, l] = alpha_l``."""

    heads: np.ndarray  # (B, L, n, k), each row in the simplex
    kind = "probability-convex"

    def __post_init__(self) -> None:
        G = _as_batched(self.heads, "heads", 4)
        check_probs(G, name="heads (each head's rows must lie in the simplex)")
        object.__setattr__(self, "heads", G)

    @property
    def batch(self) -> int:
        return self.heads.shape[0]

    @property
    def n(self) -> int:
        return self.heads.shape[2]

    @property
    def num_classes(self) -> int:
        return self.heads.shape[3]

    @property
    def blocks(self) -> tuple[int, int]:
        return 1, self.heads.shape[1]

    def predict(self, theta: np.ndarray) -> np.ndarray:
        B, L, n, k = self.heads.shape
        return (theta @ self.heads.reshape(B, L, n * k)).reshape(B, n, k)

    def adjoint(self, grad_pred: np.ndarray) -> np.ndarray:
        B, L, n, k = self.heads.shape
        return np.swapaxes(self.heads.reshape(B, L, n * k) @ grad_pred.reshape(B, n * k, 1), 1, 2)

    def params_view(self, theta: np.ndarray) -> np.ndarray:
        """alpha with shape (B, L)."""
        return theta[:, 0]

    def newton_system(self, curv: np.ndarray, D: np.ndarray, rhs: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dense (L + 1) x (L + 1) KKT solve; same contract as StochasticMatrixClass.newton_system."""
        G = self.heads
        L = G.shape[1]
        Gf = G.reshape(G.shape[0], L, -1)
        H = (Gf * curv.reshape(G.shape[0], 1, -1)) @ np.swapaxes(Gf, 1, 2)
        H[:, np.arange(L), np.arange(L)] += D[:, 0] + _RIDGE * _scale(H)
        kkt = np.zeros((G.shape[0], L + 1, L + 1))
        kkt[:, :L, :L] = H
        kkt[:, :L, L] = 1.0
        kkt[:, L, :L] = 1.0
        sol = np.linalg.solve(kkt, np.concatenate([rhs[:, 0], s], axis=1)[..., None])[..., 0]
        return sol[:, None, :L], sol[:, L:]


@dataclass(frozen=True)
class SoftmaxLinearClass:
    r""":math:`F(x_j) = \mathrm{softmax}(W h_j)`, W (k x d). Parameters W with shape (B, k, d)."""

    features: np.ndarray  # (B, n, d)
    num_classes: int
    kind = "softmax-linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", _as_batched(self.features, "features", 3))
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")

    @property
    def batch(self) -> int:
        return self.features.shape[0]

    @property
    def n(self) -> int:
        return self.features.shape[1]

    def logits(self, W: np.ndarray) -> np.ndarray:
        return self.features @ np.swapaxes(W, 1, 2)

    def predict(self, W: np.ndarray) -> np.ndarray:
        return softmax(self.logits(W), axis=-1)


ModelClass = StochasticMatrixClass | MixtureClass | SoftmaxLinearClass


def random_simplex_params(model: StochasticMatrixClass | MixtureClass, rng: np.random.Generator, concentration: float = 1.0) -> np.ndarray:
    """theta with every block drawn from Dirichlet(concentration)."""
    nb, bs = model.blocks
    x = np.maximum(rng.standard_gamma(concentration, size=(model.batch, nb, bs)), 1e-300)
    return x / x.sum(axis=2, keepdims=True)
