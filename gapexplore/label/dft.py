"""A real DFT reference: GPAW, plane waves, PBE, with per-element settings.

GPAW is an optional extra (``dft``) that must be built from source against Debian's libxc,
FFTW and OpenBLAS: run ``make gpaw`` (see the Makefile and ``tools/gpaw-siteconfig.py``).
PAW setups come from the ``gpaw-data`` package; nothing is downloaded.

Use it as a reference of :func:`gapexplore.label.label_structures`::

    from gapexplore.label.dft import gpaw_reference
    labelled = label_structures(structures, gpaw_reference("paper"), n_jobs=2)

:func:`gpaw_reference` returns a picklable function of no arguments (a
:func:`functools.partial` of :class:`GPAWReference`) whose calculator chooses its settings
per structure: the element's row of :data:`ELEMENT_SETTINGS` and the kind of structure
(:func:`structure_kind`: bulk, dimer or isolated atom).

k-point convention
------------------
The number of k-points along reciprocal vector i is ``max(1, ceil(2π |b_i| / kspacing))``,
where ``b_i`` are the rows of ``atoms.cell.reciprocal()`` (ASE's reciprocal cell, *without*
the factor 2π) and ``kspacing`` is in Å⁻¹ *with* the 2π — VASP's ``KSPACING`` convention,
the one of the paper (0.25 Å⁻¹ for B, Si, Ti; 0.35 Å⁻¹ for C). Monkhorst–Pack grids,
Γ-centred.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import partial

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from gapexplore.core.checks import fail
from gapexplore.core.errors import InvalidParameterError

__all__ = ["ELEMENT_SETTINGS", "PRESETS", "DFTSettings", "GPAWReference", "gpaw_available",
           "gpaw_calculator", "gpaw_reference", "kpoint_grid", "structure_kind"]

#: How to install GPAW when it is missing.
INSTALL = "make gpaw (builds GPAW 26.7.0 with FFTW/OpenBLAS into .venv; see the Makefile)"


@dataclass(frozen=True)
class DFTSettings:
    """Plane-wave PBE settings of one element.

    Parameters
    ----------
    ecut : float
        Plane-wave cutoff [eV].
    kspacing : float
        k-point spacing [Å⁻¹, with 2π] of bulk cells (see the module's k-point convention).
    smearing : str
        GPAW occupation name for bulk cells: ``"fermi-dirac"`` or ``"marzari-vanderbilt"``.
    width : float
        Smearing width [eV].
    """

    ecut: float
    kspacing: float
    smearing: str = "fermi-dirac"
    width: float = 0.05


#: Per-element settings at the paper's k-spacings (B, Si, Ti 0.25 Å⁻¹; C 0.35 Å⁻¹).
#: Cutoffs: B and C 500 eV (hard 2p), Si 350 eV, Ti 400 eV (3s3p semicore setup); Ti is a
#: metal and is smeared by Marzari–Vanderbilt 0.1 eV, the others by Fermi–Dirac 0.05 eV
#: (random structures of B, C and Si are often metallic).
ELEMENT_SETTINGS: dict[str, DFTSettings] = {
    "B": DFTSettings(ecut=500.0, kspacing=0.25),
    "C": DFTSettings(ecut=500.0, kspacing=0.35),
    "Si": DFTSettings(ecut=350.0, kspacing=0.25),
    "Ti": DFTSettings(ecut=400.0, kspacing=0.25, smearing="marzari-vanderbilt", width=0.1),
}

#: ``"paper"``: :data:`ELEMENT_SETTINGS` as they are. ``"low"``: for tests only — 200 eV
#: and a k-spacing of 0.8 Å⁻¹ (3×3×3 for a 2-atom Si cell), loose convergence.
PRESETS = ("paper", "low")
_LOW = {"ecut": 200.0, "kspacing": 0.8}

#: SCF convergence (GPAW's keys): energy [eV/valence electron], density [electrons/electron],
#: forces [eV/Å]; and the maximum number of SCF iterations.
CONVERGENCE = {"paper": {"energy": 1e-5, "density": 1e-5, "forces": 1e-3},
               "low": {"energy": 1e-4, "density": 1e-4}}
MAXITER = 333

#: A cell whose three lengths are all at least this [Å] holding one or two atoms is an
#: isolated atom or a dimer in a box: Γ point only.
BOX_LENGTH = 8.0

KINDS = ("bulk", "dimer", "atom")


def gpaw_available() -> bool:
    """Whether GPAW and its PAW setups (``gpaw-data``) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("gpaw", "gpaw_data"))


def _require_gpaw(where: str) -> None:
    if not gpaw_available():
        raise InvalidParameterError(
            f"{where} needs GPAW and gpaw-data, which are not installed. Install them with: "
            f"{INSTALL}.")


def kpoint_grid(cell, kspacing: float) -> tuple[int, int, int]:
    """Monkhorst–Pack grid for ``cell`` at ``kspacing``.

    Parameters
    ----------
    cell : array_like, shape (3, 3) or ase.cell.Cell
        Cell vectors as rows [Å].
    kspacing : float
        Largest spacing between k-points [Å⁻¹], 2π included (VASP's ``KSPACING``).

    Returns
    -------
    tuple of int
        ``max(1, ceil(2π |b_i| / kspacing))`` for the three reciprocal vectors ``b_i``
        (without 2π).
    """
    if not (isinstance(kspacing, (int, float)) and kspacing > 0):
        raise fail("kspacing", "kpoint_grid", "a positive number [1/Å]", kspacing)
    reciprocal = np.linalg.inv(np.asarray(cell, dtype=float)).T
    lengths = np.linalg.norm(reciprocal, axis=1)
    return tuple(max(1, math.ceil(2 * math.pi * b / kspacing - 1e-9)) for b in lengths)


def structure_kind(atoms: Atoms) -> str:
    """``"atom"``, ``"dimer"`` or ``"bulk"``: how :class:`GPAWReference` treats ``atoms``.

    One atom, or two, that is not periodic in some direction or sits in a cell whose lengths
    are all at least :data:`BOX_LENGTH` is an isolated atom or a dimer; anything else is
    bulk. (A structure of three or more atoms that is not periodic is also computed at the
    Γ point only, see :func:`gpaw_calculator`.)
    """
    boxed = (not atoms.pbc.all()) or bool(np.all(atoms.cell.lengths() >= BOX_LENGTH))
    if len(atoms) == 1 and boxed:
        return "atom"
    if len(atoms) == 2 and boxed:
        return "dimer"
    return "bulk"


def gpaw_calculator(element: str, *, kind: str = "bulk", cell=None, preset: str = "paper",
                    kspacing: float | None = None, ecut: float | None = None,
                    maxiter: int | None = None, convergence: dict | None = None,
                    txt=None, **gpaw_kwargs):
    """A GPAW plane-wave PBE calculator for one element and kind of structure.

    Parameters
    ----------
    element : str
        ``"B"``, ``"C"``, ``"Si"`` or ``"Ti"`` (a row of :data:`ELEMENT_SETTINGS`).
    kind : {"bulk", "dimer", "atom"}
        ``"bulk"``: k-points from ``cell`` and ``kspacing``, the element's smearing.
        ``"dimer"``: Γ point, Fermi–Dirac 0.05 eV, not spin-polarised (a documented choice:
        the dimer curve of the paper's GAPs is a closed-shell one beyond the bond).
        ``"atom"``: Γ point, spin-polarised with Hund's rule, Fermi–Dirac 0.01 eV — the
        isolated atom whose energy is the GAP's e0.
    cell : array_like, shape (3, 3), optional
        Cell [Å]; required for ``"bulk"`` unless ``gpaw_kwargs`` has ``kpts``.
    preset : {"paper", "low"}
        ``"low"`` (tests only) lowers the cutoff to 200 eV and the k-point density to a
        spacing of 0.8 Å⁻¹, with loose SCF convergence.
    kspacing : float, optional
        k-point spacing [Å⁻¹, 2π included]; default from the element and preset.
    ecut : float, optional
        Plane-wave cutoff [eV]; default from the element and preset.
    maxiter : int, optional
        Most SCF iterations (default 333). If the SCF does not converge GPAW raises
        ``KohnShamConvergenceError``, which :func:`~gapexplore.label.label_structures`
        records as a failed label.
    convergence : dict, optional
        GPAW's ``convergence`` (default :data:`CONVERGENCE` of the preset).
    txt : str, path or None
        GPAW's log: None for none (default), ``"-"`` for stdout, or a file name.
    **gpaw_kwargs
        Passed on to ``gpaw.GPAW``, overriding the above.

    Returns
    -------
    gpaw.GPAW
        Energies [eV], forces [eV/Å], stress [eV/Å³] (PW mode, periodic cells).

    Raises
    ------
    InvalidParameterError
        If GPAW is not installed (before any work), or for an unknown element, kind or
        preset.
    """
    where = "gpaw_calculator"
    _require_gpaw(where)
    if element not in ELEMENT_SETTINGS:
        raise fail("element", where, f"one of {', '.join(ELEMENT_SETTINGS)}", element)
    if kind not in KINDS:
        raise fail("kind", where, f"one of {', '.join(KINDS)}", kind)
    if preset not in PRESETS:
        raise fail("preset", where, f"one of {', '.join(PRESETS)}", preset)
    from gpaw import GPAW, PW

    table = ELEMENT_SETTINGS[element]
    low = preset == "low"
    ecut = ecut if ecut is not None else (_LOW["ecut"] if low else table.ecut)
    kspacing = kspacing if kspacing is not None else (_LOW["kspacing"] if low
                                                      else table.kspacing)
    params = dict(mode=PW(ecut), xc="PBE", txt=txt,
                  maxiter=MAXITER if maxiter is None else maxiter,
                  convergence=dict(CONVERGENCE[preset] if convergence is None else convergence))
    if kind == "bulk":
        if "kpts" not in gpaw_kwargs:
            if cell is None:
                raise fail("cell", where, "the cell [Å] of a bulk structure", cell)
            params["kpts"] = {"size": kpoint_grid(cell, kspacing), "gamma": True}
        params["occupations"] = {"name": table.smearing, "width": table.width}
    elif kind == "dimer":
        params.update(kpts=(1, 1, 1), occupations={"name": "fermi-dirac", "width": 0.05})
    else:
        params.update(kpts=(1, 1, 1), spinpol=True, hund=True,
                      occupations={"name": "fermi-dirac", "width": 0.01})
    params.update(gpaw_kwargs)
    return GPAW(**params)


class GPAWReference(Calculator):
    """An ASE calculator that runs GPAW with the settings each structure calls for.

    For each structure it takes the element (one element per structure), the kind
    (:func:`structure_kind`; a structure not periodic in all directions is computed at the
    Γ point) and builds a fresh :func:`gpaw_calculator`. Energy is GPAW's energy
    extrapolated to zero smearing [eV], ``free_energy`` the smeared one, forces [eV/Å]
    (consistent with ``free_energy``), stress [eV/Å³] for cells periodic in all three
    directions.

    Parameters
    ----------
    preset : {"paper", "low"}
        See :func:`gpaw_calculator`.
    txt : str or None
        GPAW's log (None: none).
    **overrides
        Passed to :func:`gpaw_calculator` (e.g. ``ecut``, ``kspacing``, ``maxiter``).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, preset: str = "paper", txt=None, **overrides):
        _require_gpaw("GPAWReference")
        if preset not in PRESETS:
            raise fail("preset", "GPAWReference", f"one of {', '.join(PRESETS)}", preset)
        super().__init__()
        self.preset, self.txt, self.overrides = preset, txt, dict(overrides)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Run GPAW on ``atoms`` (energy, forces and, for periodic cells, stress)."""
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        symbols = sorted(set(work.get_chemical_symbols()))
        if len(symbols) != 1:
            raise InvalidParameterError(
                f"GPAWReference computes one element at a time; got {', '.join(symbols)}")
        kind = structure_kind(work)
        overrides = dict(self.overrides)
        if kind == "bulk" and not work.pbc.all():
            overrides.setdefault("kpts", (1, 1, 1))
        work.calc = gpaw_calculator(symbols[0], kind=kind, cell=work.cell, preset=self.preset,
                                    txt=self.txt, **overrides)
        self.results["energy"] = float(work.get_potential_energy())
        self.results["free_energy"] = float(work.get_potential_energy(force_consistent=True))
        self.results["forces"] = np.array(work.get_forces())
        if work.pbc.all():
            self.results["stress"] = np.array(work.get_stress())


def gpaw_reference(preset: str = "paper", **overrides):
    """A picklable function of no arguments that returns a :class:`GPAWReference`.

    For :func:`~gapexplore.label.label_structures`'s ``reference`` (worker processes
    included). Checks that GPAW is installed now, before any work.

    Parameters
    ----------
    preset : {"paper", "low"}
        See :func:`gpaw_calculator`.
    **overrides
        Passed on to :class:`GPAWReference`.

    Returns
    -------
    functools.partial
        Returns a new :class:`GPAWReference`; its ``__qualname__`` (REF_NAME in the labels)
        is ``"gpaw"``, or ``"gpaw-low"`` for the low preset.

    Raises
    ------
    InvalidParameterError
        If GPAW is not installed (the message names ``make gpaw``) or the preset is unknown.
    """
    _require_gpaw("gpaw_reference")
    if preset not in PRESETS:
        raise fail("preset", "gpaw_reference", f"one of {', '.join(PRESETS)}", preset)
    factory = partial(GPAWReference, preset=preset, **overrides)
    # label_structures records a function's __qualname__ as REF_NAME (pickled with it)
    factory.__qualname__ = "gpaw" if preset == "paper" else f"gpaw-{preset}"
    return factory
