"""The native GAP as an ASE calculator (energy, forces, stress in one evaluation)."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

from gapexplore.potential.evaluator import GapEvaluator

__all__ = ["NativeGap"]


class NativeGap(Calculator):
    """An ASE calculator for a GAP, evaluated natively; stands in for
    ``quippy.potential.Potential`` (energy [eV], forces [eV/Å], stress [eV/Å³]).

    Parameters
    ----------
    potential : str, pathlib.Path, GapModel or GapEvaluator
        The XML written by ``gap_fit``, its model, or an evaluator to share.
    **kwargs
        ``device`` of :class:`~gapexplore.potential.GapEvaluator` (when
        ``potential`` is not already one), then ASE's Calculator options.

    Notes
    -----
    Every call computes all three properties (one pass gives them together). For many
    cells at once use :meth:`GapEvaluator.evaluate` directly: one call for the batch.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential, *, device: str = "cpu", **kwargs):
        super().__init__(**kwargs)
        self.evaluator = (potential if isinstance(potential, GapEvaluator)
                          else GapEvaluator(potential, device=device))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Energy, forces and (for a periodic cell) stress of ``atoms``, in one evaluation."""
        super().calculate(atoms, properties, system_changes)
        results = self.evaluator.evaluate([self.atoms])
        energy = float(results.energy[0])
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": results.forces[0]}
        if self.atoms.pbc.all():
            self.results["stress"] = results.stress[0]
