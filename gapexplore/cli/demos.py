"""The demos of ``gapexplore demo``: their settings and default folders."""

from pathlib import Path

__all__ = ["DEMO", "DEMO_SIC", "DEMOS"]

#: The demo: small enough for a laptop, large enough to see the loop learn. Both demos relax
#: with the paper's optimiser, with which their figures in the README were measured (runs
#: default to FIRE, measured faster since).
DEMO = dict(element="Si", n_candidates=24, n_atoms=(4, 8), n_select=16, max_iterations=4,
            gap="light", relax_fmax=0.05, relax_max_steps=100,
            validate=("diamond", "beta-tin"), relax={"optimiser": "precon-lbfgs"})
#: The binary demo: SiC with Tersoff's Si–C potential, its polytypes as learning curves.
#: 64 relaxations an iteration and ``label_lowest``: the polytypes come right only once the
#: search has reached the ground state and that cell is labelled; 4–6-atom cells (four
#: atoms in 4 cells of 5), since only 4-atom cells relax there often (README, the SiC demo).
DEMO_SIC = dict(composition="SiC", reference="tersoff-sic", n_candidates=64, n_atoms=(4, 6),
                n_select=16, max_iterations=16, label_lowest=True, gap="light",
                relax_fmax=0.05, relax_max_steps=100, validate=("3C", "2H", "4H", "rocksalt"),
                relax={"optimiser": "precon-lbfgs"})
#: The demos by ``gapexplore demo --system``, with their default folders.
DEMOS = {"si": (DEMO, Path("runs/demo")), "sic": (DEMO_SIC, Path("runs/demo-sic"))}
