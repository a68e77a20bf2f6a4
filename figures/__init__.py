"""figures: every figure, table and the claims scorecard, drawn from the result files of the other packages.

Nothing here recomputes what a run stored: `figures.render.render_all(results_dir, out_dir)` reads
`bounds.json`, a synthetic run folder and LLM run folders (layout in docs/figures.md) and draws
what they allow; `figures.scorecard` turns the same files into the claim-by-claim verdicts.
The only numbers computed here are those of the toy Figure 1 (`figures.toy_fits`).
"""
