"""A native GAP evaluator: this project's own reader of ``gap_fit``'s XML and a batched
evaluation of energy, forces and stress (torch), with an ASE calculator around it.

:mod:`.xml` reads the potential; :mod:`.descriptors` holds the terms (``distance_2b``,
``angle_3b``, ``soap``) as QUIP defines them; :mod:`.evaluator` evaluates a batch of cells
in one pass; :mod:`.calculator` is the ASE calculator that can stand in for
``quippy.potential.Potential``.
"""

from gapexplore.potential.calculator import NativeGap
from gapexplore.potential.evaluator import GapEvaluator, Results, evaluate
from gapexplore.potential.xml import Angle3b, Distance2b, GapModel, Soap, SparseGP, read_gap_xml

__all__ = ["NativeGap", "GapEvaluator", "Results", "evaluate", "GapModel", "SparseGP",
           "Distance2b", "Angle3b", "Soap", "read_gap_xml"]
