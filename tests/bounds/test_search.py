"""Issue 17, part 1: what kind of minimiser a counterexample's fit is; boundary realizability; the user's own F_sw."""

import numpy as np

import bounds.instances

from bounds.check import assess_class, check_arrays, format_summary
from bounds.classes import MixtureClass, SoftmaxLinearClass, StochasticMatrixClass
from bounds.instances import fitted_softmax
from bounds.quantities import Instances
from bounds.solvers import fit, member, objective
from bounds.theorems import NT_SOFTMAX, REALIZABLE, fit_search
from bounds.verify import verify


def test_fifty_further_random_starts_improve_no_reported_counterexample_fit(monkeypatch):
    """The audit's shape (k = 9, n = 6), with a search budget that affords the full 150 starts here: 50 more
    independent random starts (the solver's own, another seed) find no lower reverse-KL objective. (At the default
    budget these instances get 51-127 starts, and one of ten counterexamples is still improvable: hence best-of-N.)"""
    monkeypatch.setattr(bounds.instances, "SEARCH_BUDGET", 1e7)
    inst = fitted_softmax(np.random.default_rng(0), 12, 6, 9, family="noisy", loss="reverse_kl")
    res = NT_SOFTMAX.check(inst)
    cx = NT_SOFTMAX.counterexamples(res, inst)
    assert cx.sum() >= 3
    assert (inst.fit_starts[cx] == bounds.instances.MAX_STARTS).all()
    ours = objective("reverse_kl", inst.fsw, inst.fw, inst.weights)  # the reported fit's objective
    again = fit(SoftmaxLinearClass(inst.features, 9), inst.fw, "reverse_kl", starts=52, seed=12345)  # 50 random starts
    assert np.all(again.objective[cx] >= ours[cx] - 1e-9 * (1 + np.abs(ours[cx]))), (again.objective[cx], ours[cx])


def test_the_search_lowers_the_objective_where_the_first_fit_was_a_local_minimum():
    """Without the search (two starts) some fits of the same instances are beaten by the searched ones."""
    rng = np.random.default_rng(0)
    inst = fitted_softmax(rng, 12, 6, 9, family="noisy", loss="reverse_kl")
    plain = fit(SoftmaxLinearClass(inst.features, 9), inst.fw, "reverse_kl", max_iter=100, starts=2)
    searched = objective("reverse_kl", inst.fsw, inst.fw, inst.weights)
    assert np.any(searched < plain.objective - 1e-6)
    assert np.all(searched <= plain.objective + 1e-9)


def test_verify_records_what_kind_of_minimiser_each_counterexample_fit_is():
    report = verify(8, seed=3, results=["NT-reverse-softmax"], progress=False)["NT-reverse-softmax"]
    t = report["tightness"]
    assert sum(t["counterexample_fits"].values()) == report["violations"] > 0
    w = report["worst_instance"]
    assert w["fit_search"] == fit_search(w["k"], w["global_certified"], w["fit_starts"])
    assert w["fit_search"] == "global (certified)" if w["k"] == 2 else w["fit_search"].startswith("best of ")
    assert fit_search(2, 1.0, 0) == "global (certified)" and fit_search(5, 0.0, 50) == "best of 50"


def _vertex_class(rng, n=20, k=4, m=5):
    model = StochasticMatrixClass(rng.dirichlet(np.ones(m), size=n), k)
    theta = np.eye(k)[rng.integers(0, k, size=m)][None]  # every column of A one-hot: a vertex of the class
    return model, model.predict(theta)[0]


def test_a_vertex_of_the_stochastic_class_is_recognised_as_a_member():
    model, fstar = _vertex_class(np.random.default_rng(0))
    assert np.abs(fit(model, fstar, "forward_kl").pred - fstar).max() > REALIZABLE  # the interior point stops short
    near, dist = member(model, fstar)
    assert dist[0] <= REALIZABLE and np.abs(near.pred[0] - fstar).max() == dist[0]
    assert np.allclose(near.theta.sum(2), 1.0) and (near.theta >= 0).all()


def test_a_single_head_of_a_mixture_is_recognised_as_a_member():
    rng = np.random.default_rng(1)
    heads = rng.dirichlet(np.ones(4), size=(3, 25))
    model = MixtureClass(heads)
    assert np.abs(fit(model, heads[1], "forward_kl").pred - heads[1]).max() > REALIZABLE
    near, dist = member(model, heads[1])
    assert dist[0] <= REALIZABLE and near.params[0].argmax() == 1


def test_a_point_outside_the_class_stays_outside():
    model, fstar = _vertex_class(np.random.default_rng(2))
    outside = 0.5 * fstar + 0.5 * np.random.default_rng(3).dirichlet(np.ones(4), size=20)
    _, dist = member(model, outside)
    assert dist[0] > 1e-3


def test_check_judges_t4_at_a_vertex_truth_as_realizable():
    """T4 applies (``realizable`` met) when F* is a vertex of the class, as the theorem says it should."""
    rng = np.random.default_rng(4)
    model, fstar = _vertex_class(rng)
    fw = 0.6 * fstar + 0.4 * rng.dirichlet(np.ones(4), size=20)
    fsw = fit(model, fw, "reverse_kl").pred[0]
    c = assess_class(Instances(fstar, fw, fsw), model)
    assert c["realizability_residual"] <= REALIZABLE
    assert c["results"]["T4"]["hypotheses_failed"] == [] and c["results"]["T4"]["holds"]


def test_check_judges_the_users_own_fsw_in_the_class():
    """A member F_sw that is not the optimum: its Frank-Wolfe gap is T4's allowance and T6's approximation term,
    and the user's table is computed at the user's F_sw, not at the project's fit."""
    rng = np.random.default_rng(5)
    model, fstar = _vertex_class(rng)
    fw = 0.6 * fstar + 0.4 * rng.dirichlet(np.ones(4), size=20)
    opt = fit(model, fw, "reverse_kl")
    theta = 0.7 * opt.theta + 0.3 * np.full_like(opt.theta, 0.25)  # a member, away from the optimum
    fsw = model.predict(theta)[0]
    s = check_arrays(fstar, fw, fsw, features=model.features[0], class_kind="stochastic")
    u = s["class"]["user"]
    assert u["member"] and u["certificate_of"] == "reverse_kl"
    assert u["certificate"] >= u["objective"] - float(opt.objective[0]) > 1e-4  # g bounds the suboptimality
    t4, t6 = u["results"]["T4"], u["results"]["T6"]
    inst = Instances(fstar, fw, fsw)
    assert np.isclose(t4["lhs"], inst.err(inst.fsw)[0]) and t4["allowance"] >= u["certificate"]
    assert t4["holds"] and t6["holds"] and t6["hypotheses_failed"] == []
    assert not np.isclose(t4["lhs"], s["class"]["results"]["T4"]["lhs"])  # not the project's fit
    text = format_summary(s)
    assert "T4 at your F_sw" in text and "the project's own fits" in text


def test_check_says_t4_t6_do_not_apply_to_an_fsw_outside_the_class():
    rng = np.random.default_rng(6)
    model, fstar = _vertex_class(rng)
    fw = 0.6 * fstar + 0.4 * rng.dirichlet(np.ones(4), size=20)
    fsw = rng.dirichlet(np.ones(4), size=20)
    u = check_arrays(fstar, fw, fsw, features=model.features[0], class_kind="stochastic")["class"]["user"]
    assert not u["member"] and u["membership_residual"] > 1e-3
    assert all("not a member" in r["error"] for r in u["results"].values())


def test_check_judges_t5_at_the_users_softmax_forward_fit():
    from scipy.special import softmax

    rng = np.random.default_rng(7)
    n, k, d = 40, 3, 3
    h = np.concatenate([rng.normal(size=(n, d - 1)), np.ones((n, 1))], 1)
    fstar = softmax(h @ rng.normal(size=(k, d)).T, axis=-1)
    fw = 0.5 * fstar + 0.5 * rng.dirichlet(np.ones(k), n)
    fsw = fit(SoftmaxLinearClass(h, k), fw, "forward_kl").pred[0]
    u = check_arrays(fstar, fw, fsw, features=h, class_kind="softmax")["class"]["user"]
    assert u["member"] and u["certificate_of"] == "forward_kl" and u["certificate"] < 1e-9
    t5 = u["results"]["T5"]
    assert t5["hypotheses_failed"] == [] and t5["holds"]
    assert "prob_convex" in u["results"]["T4"]["hypotheses_failed"]
