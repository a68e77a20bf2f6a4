"""synthetic: a fast simulator of weak-to-strong training with known truth.

It checks the disagreement guarantee of reverse-KL training (T4 of ``bounds.theorems``) task by
task, compares forward KL, reverse KL, cross-entropy and reverse cross-entropy, and relaxes the
guarantee's assumptions (softmax heads, finite samples, imperfect strong features, noisy weak
labels). Entry points: :func:`synthetic.run.run_study`, :func:`synthetic.report.report`; result
fields and readers in :mod:`synthetic.results`.
"""
