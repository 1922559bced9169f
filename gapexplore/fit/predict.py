"""A fitted GAP in use: loaded as an ASE calculator by either engine, its energies and
forces on a list of structures, and its own predicted errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from gapexplore.core.checks import fail
from gapexplore.core.libraries import import_quippy, torch_installed
from gapexplore.potential import NativeGap

__all__ = ["ENGINES", "default_engine", "load_potential", "predict", "predicted_errors"]


#: The engines that evaluate a GAP: QUIP (through quippy, the authors' code and the
#: reference path) and this project's own batched evaluator (:mod:`gapexplore.potential`,
#: checked against quippy to 1e-10 eV/atom on every model the project fits; needs torch).
ENGINES = ("quippy", "native")


def default_engine() -> str:
    """The engine a GAP relaxation uses unless told otherwise: ``"native"`` where torch is
    installed (the same numbers as quippy to 1e-10 eV/atom, and relaxations in batches
    about 10× quippy's per CPU-hour; ``benchmarks/bench_relax_engines.py``), else
    ``"quippy"``."""
    return "native" if torch_installed() else "quippy"


def load_potential(path, *, stress: bool = True, engine: str = "quippy"):
    """The GAP in ``path`` (XML) as an ASE calculator.

    Parameters
    ----------
    path : str or pathlib.Path
        The XML that ``gap_fit`` wrote (its sparse-point files beside it).
    stress : bool
        With quippy: energy, forces and stress from one GAP evaluation (default);
        otherwise quippy computes the stress in a second evaluation when asked for. The
        native engine always computes all three at once.
    engine : str, one of :data:`ENGINES`
        ``"quippy"`` (``quippy.potential.Potential``) or ``"native"``
        (:class:`gapexplore.potential.NativeGap`: the same numbers, 4× quippy's speed for
        one small cell on one core, more for batches; ``benchmarks/bench_engine.py``).
    """
    if engine not in ENGINES:
        raise fail("engine", "load_potential", f"one of {ENGINES}", engine)
    path = Path(path)
    if not path.exists():
        raise fail("path", "load_potential", "an existing GAP XML file", str(path))
    if engine == "native":
        return NativeGap(path)
    potential = import_quippy("quippy.potential").Potential(param_filename=str(path))
    if stress:
        potential.set_default_properties(["energy", "forces", "stress"])
    return potential


def predict(structures: list[Atoms], potential) -> tuple[np.ndarray, list[np.ndarray]]:
    """Energies [eV] and forces [eV/Å] of ``structures`` with a GAP (path or calculator).

    The structures are not modified (each is evaluated as a copy).
    """
    calc = (load_potential(potential, stress=False)   # no virial: about 20 % less time
            if isinstance(potential, (str, Path)) else potential)
    energies, forces = [], []
    for atoms in structures:
        copy = atoms.copy()
        copy.calc = calc
        energies.append(copy.get_potential_energy())
        forces.append(copy.get_forces().copy())
    return np.array(energies), forces


def predicted_errors(structures: list[Atoms], potential) -> np.ndarray:
    """The GAP's own predicted error of each structure: √(mean over its atoms of quippy's
    ``local_gap_variance``) [eV/atom] — the predictive variance of the GAP's local energies
    given its sparse points, large where the potential was shown nothing alike.

    Parameters
    ----------
    structures : list of ase.Atoms
        Not modified.
    potential : str or pathlib.Path
        The GAP XML.

    Returns
    -------
    numpy.ndarray of float
        One value per structure [eV/atom]; NaN where the GAP reports no variance.
    """
    Potential = import_quippy("quippy.potential").Potential

    path = Path(potential)
    if not path.exists():
        raise fail("potential", "predicted_errors", "an existing GAP XML file", str(path))
    calculator = Potential(param_filename=str(path), calc_args="local_gap_variance")
    out = []
    for atoms in structures:
        copy = atoms.copy()
        copy.calc = calculator
        try:
            copy.get_potential_energy()
            variance = calculator.extra_results["atoms"]["local_gap_variance"]
            out.append(float(np.sqrt(np.mean(variance))))
        except (KeyError, RuntimeError):
            out.append(float("nan"))
    return np.array(out)
