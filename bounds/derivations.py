r"""Symbolic derivations (sympy) of the identities the rest of revkl relies on.

Each derivation is a function that *derives* its expressions with sympy (differentiates,
solves, integrates) and returns a :class:`Derivation`: the derived expressions, plus
residuals (derived minus claimed) that must reduce to exact zero, plus expressions that
must be provably positive (second-order conditions). ``Derivation.verify()`` checks both
and raises ``AssertionError`` naming the first residual that does not vanish.

Assumptions are carried by the symbols: probabilities and variances are ``positive``,
logits and means are ``real``. Residuals are reduced by targeted rewriting first
(splitting logarithms of products of positive factors, putting rationals over one
denominator) and only then by ``sympy.simplify``; ``expand_log`` is never forced, so every
rewrite is valid under the stated assumptions.

Registry: :data:`DERIVATIONS` (name -> builder) and :func:`verify_all`.

================================  ==========================================================
``ce_decomposition``              :math:`\mathrm{CE}(p,q) = H(p) + \mathrm{KL}(p\|q)`
``rce_decomposition``             :math:`\mathrm{RCE} = \mathrm{KL}(F_{sw}\|F_w) + H(F_{sw})`
``binary_gradients``              d/dz of forward KL, CE, reverse KL, reverse CE (binary)
``t4_first_order``                first-order step of theorem T4 and the three-point identity
``toy_argmins``                   argmins over the family (t/2, 1-t, t/2)
``gaussian_moment_matching``      forward-KL Gaussian fit of a two-Gaussian mixture
================================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

__all__ = [
    "DERIVATIONS",
    "Derivation",
    "binary_gradients",
    "ce_decomposition",
    "gaussian_moment_match",
    "gaussian_moment_matching",
    "provably_positive",
    "rce_decomposition",
    "reduce_expression",
    "t4_first_order",
    "toy_argmins",
    "verify_all",
]


# -- the container ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Derivation:
    """A derivation: derived expressions, residuals that must vanish, expressions that must be positive.

    Attributes:
        name: registry name.
        statement_latex: the claim, in LaTeX.
        symbols: name -> the sympy symbol (with its assumptions), for substitution and lambdify.
        expressions: name -> derived expression (the result of differentiating/solving/integrating).
        residuals: name -> (derived - claimed); each must reduce to exact 0.
        positives: name -> expression that sympy must prove positive under the symbols' assumptions.
    """

    name: str
    statement_latex: str
    symbols: Mapping[str, sp.Symbol]
    expressions: Mapping[str, sp.Expr]
    residuals: Mapping[str, sp.Expr]
    positives: Mapping[str, sp.Expr] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for group in ("symbols", "expressions", "residuals", "positives"):
            object.__setattr__(self, group, MappingProxyType(dict(getattr(self, group))))
        if not self.residuals:
            raise ValueError(f"Derivation {self.name!r}: residuals must not be empty (nothing to verify)")
        for group in ("expressions", "residuals", "positives"):
            for key, value in getattr(self, group).items():
                if not isinstance(value, sp.Basic):
                    raise ValueError(f"Derivation {self.name!r}: {group}[{key!r}] is not a sympy expression: {value!r}")

    def verify(self) -> None:
        """Reduce every residual to exact 0 and prove every positive expression positive.

        Raises:
            AssertionError: naming the derivation and the first residual (or positive) that fails,
                with its reduced form.
        """
        for key, residual in self.residuals.items():
            reduced = reduce_expression(residual)
            if reduced != 0:
                raise AssertionError(f"{self.name}: residual {key!r} does not reduce to 0; it reduces to {reduced}")
        for key, expr in self.positives.items():
            if not provably_positive(expr):
                raise AssertionError(f"{self.name}: positive {key!r} is not provably positive: {expr}")

    def lambdify(self, key: str, args: Sequence[str]) -> Callable[..., Any]:
        """A NumPy function of the symbols named in ``args`` evaluating ``expressions[key]``."""
        if key not in self.expressions:
            raise ValueError(f"{self.name}: unknown expression {key!r}; known: {', '.join(self.expressions)}")
        unknown = [a for a in args if a not in self.symbols]
        if unknown:
            raise ValueError(f"{self.name}: unknown symbols {unknown}; known: {', '.join(self.symbols)}")
        return sp.lambdify([self.symbols[a] for a in args], self.expressions[key], modules="numpy")


# -- reduction --------------------------------------------------------------------------------


def _split_logs(expr: sp.Expr) -> sp.Expr:
    """Put each log's argument over one denominator and factor it, then split logs of products.

    ``log(a b / c) -> log a + log b - log c`` is applied only where sympy knows the factors are
    positive (``expand_log`` without ``force``), so the rewrite is valid under the assumptions.
    """
    expr = expr.replace(lambda e: isinstance(e, sp.log), lambda e: sp.log(sp.factor(sp.together(e.args[0]))))
    return sp.expand_log(expr, deep=True)


def reduce_expression(expr: sp.Expr) -> sp.Expr:
    """Reduce ``expr`` by cheap targeted rewrites, falling back to ``sympy.simplify``.

    Steps, stopping at the first that yields 0: expand; split logarithms (:func:`_split_logs`)
    and expand; put over one denominator and cancel; ``simplify``. Returns the last form.
    """
    expr = sp.sympify(expr)
    candidates = (
        lambda e: sp.expand(e),
        lambda e: sp.expand(_split_logs(e)),
        lambda e: sp.cancel(sp.together(e)),
        sp.simplify,
    )
    for step in candidates:
        expr = step(expr)
        if expr == 0:
            return sp.S.Zero
    return expr


def provably_positive(expr: sp.Expr) -> bool:
    """True if sympy's assumptions prove ``expr > 0`` in its given form, factored, or reduced.

    Several forms are tried because positivity is visible in some and not others (a sum of
    positive terms is lost once expanded into terms of both signs).
    """
    expr = sp.sympify(expr)
    forms = (lambda e: e, lambda e: sp.factor(sp.together(e)), reduce_expression)
    return any(form(expr).is_positive is True for form in forms)


# -- symbolic distributions -------------------------------------------------------------------


def _kl(p: Sequence[sp.Expr], q: Sequence[sp.Expr]) -> sp.Expr:
    r""":math:`\mathrm{KL}(p\|q) = \sum_i p_i \log(p_i/q_i)`, from the definition."""
    return sp.Add(*(pi * sp.log(pi / qi) for pi, qi in zip(p, q)))


def _entropy(p: Sequence[sp.Expr]) -> sp.Expr:
    r""":math:`H(p) = -\sum_i p_i \log p_i`."""
    return -sp.Add(*(pi * sp.log(pi) for pi in p))


def _cross_entropy(p: Sequence[sp.Expr], q: Sequence[sp.Expr]) -> sp.Expr:
    r""":math:`\mathrm{CE}(p, q) = -\sum_i p_i \log q_i`."""
    return -sp.Add(*(pi * sp.log(qi) for pi, qi in zip(p, q)))


def _sigmoid(x: sp.Expr) -> sp.Expr:
    r""":math:`\sigma(x) = 1/(1 + e^{-x})`."""
    return 1 / (1 + sp.exp(-x))


def _binary(logit: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    r"""The two-class distribution :math:`(1 - \sigma(z), \sigma(z))` of a scalar logit (class 1 positive)."""
    return (1 - _sigmoid(logit), _sigmoid(logit))


def _prob_symbols(prefix: str, k: int) -> list[sp.Symbol]:
    """k positive symbols prefix_0 .. prefix_{k-1} (the entries of a distribution, all in (0, 1))."""
    if not isinstance(k, int) or k < 2:
        raise ValueError(f"k (number of classes) must be an integer >= 2, got {k!r}")
    return list(sp.symbols(f"{prefix}_0:{k}", positive=True))


# -- 1, 2: decompositions ---------------------------------------------------------------------


def ce_decomposition(k: int = 3) -> Derivation:
    r"""Cross-entropy = entropy + KL: :math:`-\sum_i p_i\log q_i = H(p) + \mathrm{KL}(p\|q)`.

    Checked three ways: k explicit classes with positive probabilities; a general finite sum
    over symbolic K classes (``Sum`` over an ``IndexedBase``); the binary case from logits
    :math:`p = \sigma(u)`, :math:`q = \sigma(v)`.
    """
    p, q = _prob_symbols("p", k), _prob_symbols("q", k)
    u, v = sp.symbols("u v", real=True)
    i, K = sp.Symbol("i", integer=True), sp.Symbol("K", integer=True, positive=True)
    P, Q = sp.IndexedBase("p", positive=True), sp.IndexedBase("q", positive=True)

    def total(e: sp.Expr) -> sp.Expr:
        return sp.Sum(e, (i, 1, K))

    general = {
        "ce": total(-P[i] * sp.log(Q[i])),
        "entropy": total(-P[i] * sp.log(P[i])),
        "kl": total(P[i] * sp.log(P[i] / Q[i])),
    }
    pb, qb = _binary(u), _binary(v)
    expressions = {
        "ce": _cross_entropy(p, q),
        "entropy": _entropy(p),
        "kl": _kl(p, q),
        "ce_binary": _cross_entropy(pb, qb),
        "entropy_binary": _entropy(pb),
        "kl_binary": _kl(pb, qb),
    } | {f"{key}_general": value for key, value in general.items()}
    residuals = {
        f"k={k}": expressions["ce"] - expressions["entropy"] - expressions["kl"],
        "general_K": general["ce"] - general["entropy"] - general["kl"],
        "binary": expressions["ce_binary"] - expressions["entropy_binary"] - expressions["kl_binary"],
    }
    symbols = {str(s): s for s in (*p, *q, u, v)}
    return Derivation(
        "ce_decomposition",
        r"-\sum_i p_i \log q_i = -\sum_i p_i \log p_i + \sum_i p_i \log\frac{p_i}{q_i}",
        symbols,
        expressions,
        residuals,
    )


def rce_decomposition(k: int = 3) -> Derivation:
    r"""Reverse CE = reverse KL + strong entropy: :math:`-\sum_i F_{sw,i}\log F_{w,i} = \mathrm{KL}(F_{sw}\|F_w) + H(F_{sw})`.

    Hence, for a fixed weak model, reverse CE and reverse KL differ by :math:`H(F_{sw})`, which
    depends on the strong model: unlike CE vs forward KL, they have different minimisers.
    Checked with k explicit classes and in the binary case from logits (strong z, weak z_w).
    """
    s, w = _prob_symbols("s", k), _prob_symbols("w", k)
    z, zw = sp.symbols("z z_w", real=True)
    sb, wb = _binary(z), _binary(zw)
    expressions = {
        "rce": _cross_entropy(s, w),
        "reverse_kl": _kl(s, w),
        "strong_entropy": _entropy(s),
        "rce_binary": _cross_entropy(sb, wb),
        "reverse_kl_binary": _kl(sb, wb),
        "strong_entropy_binary": _entropy(sb),
    }
    residuals = {
        f"k={k}": expressions["rce"] - expressions["reverse_kl"] - expressions["strong_entropy"],
        "binary": expressions["rce_binary"] - expressions["reverse_kl_binary"] - expressions["strong_entropy_binary"],
    }
    symbols = {str(x): x for x in (*s, *w, z, zw)}
    return Derivation(
        "rce_decomposition",
        r"-\sum_i F_{sw,i}\log F_{w,i} = \mathrm{KL}(F_{sw}\,\|\,F_w) + H(F_{sw})",
        symbols,
        expressions,
        residuals,
    )


# -- 3: binary gradients ----------------------------------------------------------------------


def binary_gradients() -> Derivation:
    r"""Gradients in the strong logit z of the four losses, binary case, weak label :math:`q = \sigma(z_w)`.

    Each loss is written from its definition on the two-class distributions
    :math:`F_{sw} = (1-\sigma(z), \sigma(z))`, :math:`F_w = (1-q, q)` and differentiated:

    * forward KL :math:`\mathrm{KL}(F_w\|F_{sw})` and CE: :math:`\sigma(z) - q`;
    * reverse KL :math:`\mathrm{KL}(F_{sw}\|F_w)`: :math:`\sigma(z)(1-\sigma(z))(z - z_w)`;
    * reverse CE: :math:`-\sigma(z)(1-\sigma(z))\,z_w`.

    The reverse gradients carry the factor :math:`\sigma'(z) = \sigma(z)(1-\sigma(z))`, which
    vanishes where the strong model is confident.
    """
    z, zw = sp.symbols("z z_w", real=True)
    strong, weak = _binary(z), _binary(zw)
    sig, q = _sigmoid(z), _sigmoid(zw)
    losses = {
        "forward_kl": _kl(weak, strong),
        "ce": _cross_entropy(weak, strong),
        "reverse_kl": _kl(strong, weak),
        "rce": _cross_entropy(strong, weak),
    }
    claimed = {
        "forward_kl": sig - q,
        "ce": sig - q,
        "reverse_kl": sig * (1 - sig) * (z - zw),
        "rce": -sig * (1 - sig) * zw,
    }
    expressions: dict[str, sp.Expr] = {}
    residuals: dict[str, sp.Expr] = {}
    for name, loss in losses.items():
        expressions[f"loss_{name}"] = loss
        expressions[f"grad_{name}"] = sp.diff(loss, z)
        expressions[f"claimed_{name}"] = claimed[name]
        residuals[name] = expressions[f"grad_{name}"] - claimed[name]
    return Derivation(
        "binary_gradients",
        r"\partial_z \mathrm{KL}(F_w\|F_{sw}) = \sigma(z) - q,\quad "
        r"\partial_z \mathrm{KL}(F_{sw}\|F_w) = \sigma(z)(1-\sigma(z))(z - z_w),\quad "
        r"\partial_z \mathrm{RCE} = -\sigma(z)(1-\sigma(z))\,z_w",
        {"z": z, "z_w": zw},
        expressions,
        residuals,
    )


# -- 4: first-order step of T4 ----------------------------------------------------------------


def t4_first_order(k: int = 3) -> Derivation:
    r"""The first-order step of theorem T4's proof, pointwise in x (E_x is linear, so it carries over).

    With :math:`G(F) = \sum_i F_i \log(F_i/W_i)` (W the weak distribution) and F, F* with
    :math:`\sum_i F^*_i = \sum_i F_i`:

    1. :math:`\frac{d}{d\varepsilon} G(F + \varepsilon(F^*-F))|_{0} = \sum_i (F^*_i - F_i)\log(F_i/W_i)`
       (the "+1" terms sum to :math:`\sum F^* - \sum F = 0`);
    2. three-point identity :math:`\sum_i F^*_i \log(F_i/W_i) = \mathrm{KL}(F^*\|W) - \mathrm{KL}(F^*\|F)`;
    3. so the directional derivative equals :math:`\mathrm{Err}(W) - \mathrm{KL}(F\|W) - \mathrm{Err}(F)`
       with :math:`\mathrm{Err}(F) = \mathrm{KL}(F^*\|F)`: "derivative >= 0" (F minimises G over a
       convex set containing F*) is exactly :math:`\mathrm{Err}(F) \le \mathrm{Err}(W) - \mathrm{KL}(F\|W)`.

    The constraint :math:`\sum F^* = \sum F` is imposed by eliminating the last component of F*.
    """
    F, Fs, W = _prob_symbols("F", k), _prob_symbols("Fstar", k), _prob_symbols("W", k)
    eps = sp.Symbol("epsilon", nonnegative=True)
    same_mass = {Fs[-1]: sp.Add(*F) - sp.Add(*Fs[:-1])}

    def G(dist: Sequence[sp.Expr]) -> sp.Expr:
        return _kl(dist, W)

    moved = [f + eps * (fs - f) for f, fs in zip(F, Fs)]
    derivative = sp.diff(G(moved), eps).subs(eps, 0)
    claimed_derivative = sp.Add(*((fs - f) * sp.log(f / w) for f, fs, w in zip(F, Fs, W)))
    cross = sp.Add(*(fs * sp.log(f / w) for f, fs, w in zip(F, Fs, W)))
    err_F, err_W, misfit = _kl(Fs, F), _kl(Fs, W), _kl(F, W)
    slack = err_W - misfit - err_F
    expressions = {
        "G": G(F),
        "directional_derivative": derivative,
        "claimed_directional_derivative": claimed_derivative,
        "cross_term": cross,
        "err_F": err_F,
        "err_W": err_W,
        "misfit": misfit,
        "slack": slack,
    }
    residuals = {
        "directional_derivative": (derivative - claimed_derivative).subs(same_mass),
        "three_point": cross - (err_W - err_F),
        "rearrangement": claimed_derivative - slack,
    }
    symbols = {str(s): s for s in (*F, *Fs, *W)}
    return Derivation(
        "t4_first_order",
        r"\sum_i (F^*_i - F_i)\log\frac{F_i}{W_i} = \mathrm{Err}(W) - \mathrm{KL}(F\|W) - \mathrm{Err}(F)"
        r" \ge 0 \iff \mathrm{Err}(F) \le \mathrm{Err}(W) - \mathrm{KL}(F\|W)",
        symbols,
        expressions,
        residuals,
    )


# -- 5: toy closed forms ----------------------------------------------------------------------


def toy_argmins() -> Derivation:
    r"""Argmins over the family :math:`f_t = (t/2, 1-t, t/2)`, :math:`t \in (0, 1)`, target :math:`q = (q_0, q_1, q_2)`.

    Solved with sympy from :math:`d/dt = 0` in the odds :math:`r = t/(1-t) > 0` (which maps
    (0, 1) onto the positive reals, so the solution set is exactly the interior stationary points):

    * forward :math:`\mathrm{KL}(q\|f_t)`: :math:`t^* = (q_0+q_2)/(q_0+q_1+q_2)`, i.e. :math:`q_0 + q_2`
      for a normalised q (mass-covering: it matches the mass on the outer classes);
    * reverse :math:`\mathrm{KL}(f_t\|q)`: :math:`t^* = 2\sqrt{q_0 q_2}/(2\sqrt{q_0 q_2} + q_1)`
      (mode-seeking: a geometric mean, pulled to 0 if either outer class is rare).

    Each solution is unique, the stationarity residual in t is exactly 0 and the second
    derivative there is provably positive; both objectives are convex in t.
    """
    q = list(sp.symbols("q_0:3", positive=True))
    t, r = sp.Symbol("t", positive=True), sp.Symbol("r", positive=True)
    family = [t / 2, 1 - t, t / 2]
    objectives = {"forward": _kl(q, family), "reverse": _kl(family, q)}
    claimed = {
        "forward": q[0] + q[2],
        "reverse": 2 * sp.sqrt(q[0] * q[2]) / (2 * sp.sqrt(q[0] * q[2]) + q[1]),
    }
    expressions: dict[str, sp.Expr] = {}
    residuals: dict[str, sp.Expr] = {}
    positives: dict[str, sp.Expr] = {}
    for name, objective in objectives.items():
        d_odds = _split_logs(sp.diff(objective.subs(t, r / (1 + r)), r))
        roots = sp.solve(d_odds, r)
        if len(roots) != 1:
            raise AssertionError(f"toy_argmins: expected one stationary point for {name} KL, got {roots}")
        t_star = sp.simplify(roots[0] / (1 + roots[0]))
        expressions[f"objective_{name}"] = objective
        expressions[f"argmin_{name}"] = t_star
        expressions[f"claimed_{name}"] = claimed[name]
        residuals[f"stationarity_{name}"] = sp.diff(objective, t).subs(t, t_star)
        positives[f"second_derivative_{name}"] = sp.diff(objective, t, 2).subs(t, t_star)
    # forward: compare on the simplex (q_1 = 1 - q_0 - q_2), where the claim q_0 + q_2 is stated
    residuals["argmin_forward"] = (expressions["argmin_forward"] - claimed["forward"]).subs(q[1], 1 - q[0] - q[2])
    residuals["argmin_reverse"] = expressions["argmin_reverse"] - claimed["reverse"]
    return Derivation(
        "toy_argmins",
        r"\arg\min_t \mathrm{KL}(q\|f_t) = q_0 + q_2,\quad "
        r"\arg\min_t \mathrm{KL}(f_t\|q) = \frac{2\sqrt{q_0 q_2}}{2\sqrt{q_0 q_2} + q_1},\quad f_t = (t/2, 1-t, t/2)",
        {"q_0": q[0], "q_1": q[1], "q_2": q[2], "t": t},
        expressions,
        residuals,
        positives,
    )


# -- 6: Gaussian moment matching --------------------------------------------------------------


def gaussian_moment_matching() -> Derivation:
    r"""Forward-KL fit of one Gaussian :math:`N(\mu, \sigma^2)` to :math:`p = \pi N(m_1, s_1^2) + (1-\pi) N(m_2, s_2^2)`.

    :math:`\mathrm{KL}(p\|N) = E_p[-\log N(x;\mu,\sigma^2)] - H(p)`, so minimise
    :math:`J(\mu, \sigma^2) = \tfrac12\log(2\pi\sigma^2) + (M_2 - 2\mu M_1 + \mu^2)/(2\sigma^2)`, a
    linear function of the moments :math:`M_j = E_p[x^j]` (read off the polynomial
    :math:`-\log N` in x). The component moments are integrated with sympy. Solving
    :math:`\nabla J = 0` gives :math:`\mu = M_1`, :math:`\sigma^2 = M_2 - M_1^2`, so
    :math:`\mu = \pi m_1 + (1-\pi) m_2`,
    :math:`\sigma^2 = \pi(s_1^2+m_1^2) + (1-\pi)(s_2^2+m_2^2) - \mu^2`
    :math:`= \pi s_1^2 + (1-\pi)s_2^2 + \pi(1-\pi)(m_1-m_2)^2` (law of total variance, > 0).
    At any stationary point the Hessian is :math:`\mathrm{diag}(1/\sigma^2, 1/(2\sigma^4))`,
    positive definite.
    """
    x = sp.Symbol("x", real=True)
    mu, var = sp.Symbol("mu", real=True), sp.Symbol("sigma2", positive=True)
    M1, M2 = sp.Symbol("M_1", real=True), sp.Symbol("M_2", positive=True)
    w, w_bar = sp.Symbol("pi_1", positive=True), sp.Symbol("pibar_1", positive=True)  # pibar_1 stands for 1 - pi_1
    m1, m2 = sp.symbols("m_1 m_2", real=True)
    s1, s2 = sp.symbols("s_1 s_2", positive=True)

    def normal_pdf(mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
        return sp.exp(-((x - mean) ** 2) / (2 * variance)) / sp.sqrt(2 * sp.pi * variance)

    def component_moment(j: int, mean: sp.Expr, sd: sp.Expr) -> sp.Expr:
        return sp.integrate(x**j * normal_pdf(mean, sd**2), (x, -sp.oo, sp.oo))

    mixture_moments = [sp.expand(w * component_moment(j, m1, s1) + (1 - w) * component_moment(j, m2, s2)) for j in range(3)]
    nll = sp.Poly(sp.expand(-_split_logs(sp.log(normal_pdf(mu, var)))), x)
    moment_of = {0: sp.S.One, 1: M1, 2: M2}
    J = sp.Add(*(coeff * moment_of[powers[0]] for powers, coeff in nll.terms()))
    solutions = sp.solve([sp.diff(J, mu), sp.diff(J, var)], [mu, var], dict=True)
    if len(solutions) != 1:
        raise AssertionError(f"gaussian_moment_matching: expected one stationary point, got {solutions}")
    on_mixture = {M1: mixture_moments[1], M2: mixture_moments[2]}
    mu_star = sp.expand(solutions[0][mu].subs(on_mixture))
    var_star = sp.expand(solutions[0][var].subs(on_mixture))
    total_variance = w * s1**2 + w_bar * s2**2 + w * w_bar * (m1 - m2) ** 2
    at_stationary = {M1: mu, M2: var + mu**2}  # the stationarity conditions, solved for the moments
    hessian = sp.hessian(J, (mu, var)).subs(at_stationary)
    expressions = {
        "objective": J,
        "mean_mixture": mixture_moments[1],
        "second_moment_mixture": mixture_moments[2],
        "mu_star": mu_star,
        "sigma2_star": var_star,
        "total_variance": total_variance.subs(w_bar, 1 - w),
    }
    residuals = {
        "mixture_mass": mixture_moments[0] - 1,
        "mu": mu_star - (w * m1 + (1 - w) * m2),
        "sigma2": var_star - (w * (s1**2 + m1**2) + (1 - w) * (s2**2 + m2**2) - mu_star**2),
        "total_variance": var_star - total_variance.subs(w_bar, 1 - w),
        "stationarity_mu": sp.diff(J, mu).subs(on_mixture).subs({mu: mu_star, var: var_star}),
        "stationarity_sigma2": sp.diff(J, var).subs(on_mixture).subs({mu: mu_star, var: var_star}),
        "hessian_off_diagonal": hessian[0, 1],
    }
    positives = {
        "sigma2_star (pibar_1 = 1 - pi_1)": total_variance,
        "hessian_mu_mu": hessian[0, 0],
        "hessian_det": hessian.det(),
    }
    return Derivation(
        "gaussian_moment_matching",
        r"\arg\min_{\mu,\sigma^2} \mathrm{KL}(p\,\|\,N(\mu,\sigma^2)):\ \mu = \pi m_1 + (1-\pi) m_2,\ "
        r"\sigma^2 = \pi(s_1^2+m_1^2) + (1-\pi)(s_2^2+m_2^2) - \mu^2",
        {"pi": w, "m_1": m1, "s_1": s1, "m_2": m2, "s_2": s2, "mu": mu, "sigma2": var, "M_1": M1, "M_2": M2},
        expressions,
        residuals,
        positives,
    )


@lru_cache(maxsize=1)
def _moment_match_function() -> Callable[..., tuple[Any, Any]]:
    """Lambdified (pi, m1, s1, m2, s2) -> (mu*, sigma*) from :func:`gaussian_moment_matching` (derived once)."""
    d = gaussian_moment_matching()
    args = [d.symbols[n] for n in ("pi", "m_1", "s_1", "m_2", "s_2")]
    return sp.lambdify(args, (d.expressions["mu_star"], sp.sqrt(d.expressions["sigma2_star"])), modules="numpy")


def gaussian_moment_match(pi: Any, m1: Any, s1: Any, m2: Any, s2: Any) -> tuple[Any, Any]:
    r"""Mean and standard deviation of the forward-KL-best Gaussian for :math:`\pi N(m_1,s_1^2) + (1-\pi)N(m_2,s_2^2)`.

    Evaluates the expressions derived by :func:`gaussian_moment_matching`. Arguments broadcast
    (NumPy); scalars in give floats out.

    Raises:
        ValueError: if pi is outside [0, 1], s1 or s2 is not positive, or any argument is not finite.
    """
    values = {name: np.asarray(v, dtype=float) for name, v in (("pi", pi), ("m1", m1), ("s1", s1), ("m2", m2), ("s2", s2))}
    for name, v in values.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"gaussian_moment_match: {name} must be finite, got {v}")
    if np.any((values["pi"] < 0) | (values["pi"] > 1)):
        raise ValueError(f"gaussian_moment_match: pi must lie in [0, 1], got {values['pi']}")
    for name in ("s1", "s2"):
        if np.any(values[name] <= 0):
            raise ValueError(f"gaussian_moment_match: {name} (a standard deviation) must be > 0, got {values[name]}")
    try:
        shape = np.broadcast_shapes(*(v.shape for v in values.values()))
    except ValueError:
        shapes = {name: v.shape for name, v in values.items()}
        raise ValueError(f"gaussian_moment_match: argument shapes do not broadcast: {shapes}") from None
    mu, sigma = (np.broadcast_to(np.asarray(r, dtype=float), shape).copy() for r in _moment_match_function()(*values.values()))
    if not shape:
        return float(mu), float(sigma)
    return mu, sigma


# -- registry ---------------------------------------------------------------------------------

#: Name -> builder of the derivation (builders take no arguments; defaults use k = 3 classes).
DERIVATIONS: dict[str, Callable[[], Derivation]] = {
    "ce_decomposition": ce_decomposition,
    "rce_decomposition": rce_decomposition,
    "binary_gradients": binary_gradients,
    "t4_first_order": t4_first_order,
    "toy_argmins": toy_argmins,
    "gaussian_moment_matching": gaussian_moment_matching,
}


def verify_all() -> dict[str, bool]:
    """Build and verify every registered derivation: name -> True if it verifies, False if an AssertionError was raised."""
    results: dict[str, bool] = {}
    for name, build in DERIVATIONS.items():
        try:
            build().verify()
        except AssertionError:
            results[name] = False
        else:
            results[name] = True
    return results
