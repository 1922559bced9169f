"""The references that can be named: toy empirical potentials, surrogates and GPAW.

Toy references
--------------
The toy references are matscipy's many-body calculators (``matscipy.calculators.manybody``)
with published parameter sets. matscipy applies its parameters to any element it is
given — Stillinger–Weber and Kumagai treat every atom as Si, and the Tersoff table maps
unknown light elements onto carbon — so each toy reference here lists the elements it
covers, and a structure with any other element is recorded as failed.

Surrogate references
--------------------
:data:`SURROGATE_REFERENCES` are universal machine-learned potentials that ship their
weights inside their wheel and so run offline: ``"chgnet"`` (CHGNet 0.3.0, trained on the
Materials Project's PBE/PBE+U relaxations; elements 1–94). They behave like DFT for the
paper's own chemistries (B, C, Si, Ti) at a fraction of its cost. They are an optional
extra: ``pip install torch==2.13.0`` (the CPU build), then ``pip install -e ".[surrogate]"``.
Universal potentials turn attractive at very short range (CHGNet's Si–Si dimer energy
falls again below about 1.1 Å), so a surrogate refuses any structure with two atoms closer
than a fraction (0.6) of the sum of their covalent radii — Si–Si 1.33 Å, C–C 0.91 Å,
B–B 1.01 Å, Ti–Ti 1.92 Å — and records it as a failed label with that reason. Of the 21
dimers of iteration 0 (1.0 r to 4.5 r), the one or two shortest are refused that way.

DFT references
--------------
:data:`DFT_REFERENCES` name GPAW (plane waves, PBE, PAW setups from ``gpaw-data``; see
:mod:`gapexplore.label.dft`): ``"gpaw"`` at the per-element settings for B, C, Si and Ti, and
``"gpaw-low"`` at a cheap preset for demonstrations. They are an optional install
(``make gpaw``) and refuse atoms closer than half the sum of their covalent radii.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.formula import Formula

from gapexplore.core.checks import fail
from gapexplore.core.errors import InvalidParameterError
from gapexplore.label.protocol import DEFAULT_MIN_DISTANCE, DEFAULT_REFERENCE_TIMEOUT

__all__ = ["ToyReference", "PackagedReference", "TOY_REFERENCES", "ALLOY_REFERENCES",
           "SURROGATE_REFERENCES",
           "DFT_REFERENCES", "NAMED_REFERENCES", "DEFAULT_TOY_REFERENCES", "default_reference",
           "named_reference"]


@dataclass(frozen=True)
class ToyReference:
    """An empirical potential from matscipy, used as a stand-in for DFT.

    Parameters
    ----------
    name : str
        Key in :data:`TOY_REFERENCES`, recorded as ``REF_NAME``.
    elements : tuple of str
        Chemical symbols the parameter set covers; any other element is refused.
    form : str
        Functional form in ``matscipy.calculators.manybody.explicit_forms``, as
        ``"module:function"``.
    parameters : str
        Name of the parameter set (a dict) in the same module.
    citation : str
        Where the parameters were published.
    timeout : float
        Default wall-time limit of one calculation [s] (:data:`DEFAULT_REFERENCE_TIMEOUT`).
    """

    name: str
    elements: tuple[str, ...]
    form: str
    parameters: str
    citation: str
    timeout: float | None = DEFAULT_REFERENCE_TIMEOUT

    @property
    def cache_key(self):
        """Key of the calculator a process keeps (:func:`~gapexplore.label.cached_calculator`)."""
        return ("toy", self.name)

    def min_distance(self, atoms: Atoms) -> float:
        """:data:`DEFAULT_MIN_DISTANCE` [Å]: matscipy's forms have no repulsive wall below
        their fit."""
        return DEFAULT_MIN_DISTANCE

    def calculator(self):
        """A new matscipy ``Manybody`` calculator with these parameters."""
        from matscipy.calculators.manybody import Manybody

        module_name, function = self.form.split(":")
        module = importlib.import_module(
            f"matscipy.calculators.manybody.explicit_forms.{module_name}")
        return Manybody(**getattr(module, function)(getattr(module, self.parameters)))


_TERSOFF_1989 = "J. Tersoff, Phys. Rev. B 39, 5566 (1989)"

#: The toy references by name. Energies of the diamond structure [eV/atom], as computed
#: by these calculators: sw-si −4.3366 (a = 5.431 Å), kumagai-si −4.630 (5.429 Å),
#: tersoff-si −4.630 (5.432 Å), tersoff-c −7.3705 (3.567 Å); tersoff-sic gives
#: zincblende SiC −6.165 (4.32 Å). In Tersoff's Si–C set the element is looked up by
#: atomic number (C → carbon parameters, Si → silicon, C–Si mixed).
TOY_REFERENCES: dict[str, ToyReference] = {ref.name: ref for ref in (
    ToyReference("sw-si", ("Si",), "stillinger_weber:StillingerWeber",
                 "Stillinger_Weber_PRB_31_5262_Si",
                 "F. H. Stillinger and T. A. Weber, Phys. Rev. B 31, 5262 (1985)"),
    ToyReference("kumagai-si", ("Si",), "kumagai:Kumagai", "Kumagai_Comp_Mat_Sci_39_Si",
                 "T. Kumagai et al., Comput. Mater. Sci. 39, 457 (2007)"),
    ToyReference("tersoff-si", ("Si",), "tersoff_brenner:TersoffBrenner",
                 "Tersoff_PRB_39_5566_Si_C", _TERSOFF_1989),
    ToyReference("tersoff-c", ("C",), "tersoff_brenner:TersoffBrenner",
                 "Tersoff_PRB_39_5566_Si_C", _TERSOFF_1989),
    ToyReference("tersoff-sic", ("C", "Si"), "tersoff_brenner:TersoffBrenner",
                 "Tersoff_PRB_39_5566_Si_C", _TERSOFF_1989),
)}

#: The toy reference used for an element when none is named.
DEFAULT_TOY_REFERENCES: dict[str, str] = {"Si": "sw-si", "C": "tersoff-c"}


@dataclass(frozen=True)
class PackagedReference:
    """A reference that lives in an optional package: a surrogate or a DFT code.

    Parameters
    ----------
    name : str
        Key in :data:`NAMED_REFERENCES`, recorded as ``REF_NAME``.
    modules : tuple of str
        The modules that must be importable (the optional extra).
    loader : str
        ``"module:callable"`` that returns a new ASE calculator when called with
        ``options`` as keyword arguments.
    install : str
        What to run when a module is missing.
    citation : str
        Where the model or code was published.
    bond_fraction : float
        Atoms closer than this fraction of the sum of their covalent radii are not
        computed (see :meth:`min_distance`).
    elements : tuple of str or None
        Chemical symbols it covers (None: any); a structure with another element is
        refused, and an exploration of another element is refused before it starts.
    options : tuple of (str, object) pairs
        Keyword arguments of ``loader``.
    timeout : float or None
        Default wall-time limit of one calculation [s]: :data:`DEFAULT_REFERENCE_TIMEOUT`
        for a surrogate (milliseconds a structure), None (no limit) for DFT.
    """

    name: str
    modules: tuple
    loader: str
    install: str
    citation: str
    bond_fraction: float = 0.6
    elements: tuple | None = None
    options: tuple = ()
    timeout: float | None = DEFAULT_REFERENCE_TIMEOUT

    @property
    def cache_key(self):
        """Key of the calculator a process keeps (:func:`~gapexplore.label.cached_calculator`)."""
        return ("packaged", self.name, self.options)

    def available(self) -> bool:
        """Whether the packages are installed."""
        return all(importlib.util.find_spec(m) is not None for m in self.modules)

    def calculator(self):
        """A new ASE calculator."""
        module_name, function = self.loader.split(":")
        return getattr(importlib.import_module(module_name), function)(**dict(self.options))

    def min_distance(self, atoms: Atoms) -> float:
        """Shortest distance [Å] the reference describes sensibly for the elements of
        ``atoms``: ``bond_fraction`` × the smallest sum of two covalent radii among them."""
        radii = covalent_radii[np.unique(atoms.numbers)]
        return float(self.bond_fraction * 2 * radii.min()) if len(radii) else 0.0


#: Universal-potential references by name (optional extra ``surrogate``).
SURROGATE_REFERENCES: dict[str, PackagedReference] = {ref.name: ref for ref in (
    PackagedReference(
        "chgnet", ("chgnet",), "gapexplore.label.surrogate:chgnet_calculator",
        'pip install torch==2.13.0 && pip install -e ".[surrogate]"',
        "B. Deng et al., Nat. Mach. Intell. 5, 1031 (2023)"),
)}

_GPAW_CITATION = "J. J. Mortensen et al., J. Chem. Phys. 160, 092503 (2024)"

#: DFT references by name (GPAW, plane waves, PBE; ``make gpaw``): ``"gpaw"`` at the
#: per-element settings of :data:`gapexplore.label.dft.ELEMENT_SETTINGS` (B, C, Si, Ti) and
#: ``"gpaw-low"`` at the low test preset (200 eV, k-spacing 0.8 Å⁻¹: for demonstrations and
#: tests, not for science). Atoms closer than 0.5 × the sum of their covalent radii (Si–Si
#: 1.11 Å, C–C 0.76 Å, B–B 0.84 Å, Ti–Ti 1.60 Å) are not computed: there the PAW spheres
#: of the setups overlap by far more than the setups were built for.
DFT_REFERENCES: dict[str, PackagedReference] = {ref.name: ref for ref in (
    PackagedReference(name, ("gpaw", "gpaw_data"), "gapexplore.label.dft:GPAWReference",
                      "make gpaw (builds GPAW 26.7.0 with FFTW and OpenBLAS into .venv)",
                      _GPAW_CITATION, bond_fraction=0.5, elements=("B", "C", "Si", "Ti"),
                      options=(("preset", preset),), timeout=None)
    for name, preset in (("gpaw", "paper"), ("gpaw-low", "low"))
)}

#: Toy references for alloys: ASE's effective-medium theory (``"emt"``) for the fcc metals
#: Al, Ni, Cu, Pd, Ag, Pt, Au and their alloys (Cu–Au, Ni–Al, ...); part of ASE, no install.
#: It has a repulsive wall, but atoms closer than half the sum of their covalent radii are
#: not computed (far outside what its parameters were fitted to).
ALLOY_REFERENCES: dict[str, PackagedReference] = {ref.name: ref for ref in (
    PackagedReference("emt", ("ase",), "ase.calculators.emt:EMT", "part of ASE",
                      "K. W. Jacobsen, P. Stoltze and J. K. Nørskov, Surf. Sci. 366, 394 "
                      "(1996)", bond_fraction=0.5,
                      elements=("Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")),
)}

#: Every reference that can be named: the toy references, the surrogates and GPAW.
NAMED_REFERENCES: dict = {**TOY_REFERENCES, **ALLOY_REFERENCES, **SURROGATE_REFERENCES,
                          **DFT_REFERENCES}


def default_reference(element) -> str:
    """Name of the default toy reference for ``element`` (Si: ``"sw-si"``, C: ``"tersoff-c"``)
    or for a compound (a formula, a Chemistry or a Composition): the first toy reference
    that covers all its elements (SiC: ``"tersoff-sic"``; Cu–Au, Ni–Al, ...: ``"emt"``).

    Raises
    ------
    InvalidParameterError
        If no toy reference is the default for ``element``; the message names the reference
        that covers it where there is one (Al, Ni, Cu, Pd, Ag, Pt, Au: ``"emt"``), else says
        to pass another reference or a calculator.
    """
    key = getattr(element, "formula", element)
    if key in DEFAULT_TOY_REFERENCES:
        return DEFAULT_TOY_REFERENCES[key]
    try:
        elements = set(Formula(key).count()) if isinstance(key, str) else set()
    except ValueError:
        elements = set()
    if len(elements) > 1:
        for reference in (*TOY_REFERENCES.values(), *ALLOY_REFERENCES.values()):
            if elements <= set(reference.elements):
                return reference.name
    known = ", ".join(repr(e) for e in DEFAULT_TOY_REFERENCES)
    # A reference that covers these elements but is not their default: name it.
    covering = [reference.name
                for reference in (*TOY_REFERENCES.values(), *ALLOY_REFERENCES.values())
                if elements and elements <= set(reference.elements)]
    suggestion = (
        f"; {' or '.join(repr(n) for n in covering)} covers {key}: name it as the reference "
        f"(--reference {covering[0]} on the command line, reference={covering[0]!r} in "
        "ExploreSettings)" if covering else
        "; no toy reference covers it: name another reference (--reference chgnet, or gpaw "
        "for B, C, Si, Ti) or give an ASE calculator or a function returning one")
    raise fail("element", "default_reference",
               f"one of {known} or a compound of the elements of one toy reference (Si–C: "
               "tersoff-sic; Al, Ni, Cu, Pd, Ag, Pt, Au: emt) to have a default "
               f"reference{suggestion}", key)


def named_reference(name, where: str, parameter: str = "name"):
    """The toy or packaged reference called ``name``; a packaged one must be installed
    (the error says how to install it)."""
    if not isinstance(name, str) or name not in NAMED_REFERENCES:
        known = ", ".join(repr(n) for n in NAMED_REFERENCES)
        raise fail(parameter, where, f"one of {known}", name)
    reference = NAMED_REFERENCES[name]
    if isinstance(reference, PackagedReference) and not reference.available():
        raise InvalidParameterError(
            f"The {parameter!r} parameter of {where} names the reference {name!r}, which "
            f"needs the module(s) {', '.join(reference.modules)}: not installed. Install "
            f"with: {reference.install}.")
    return reference
