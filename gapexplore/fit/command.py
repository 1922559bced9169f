"""The GAP's settings (paper Table 1) and the one place that builds the ``gap_fit`` command."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from gapexplore.core import keys
from gapexplore.core.checks import check_int, check_real, fail
from gapexplore.core.chemistry import Chemistry, Composition
from gapexplore.core.errors import GapFitError
from gapexplore.fit.noise import NoiseSettings

__all__ = ["GAP_FIT_VARIABLE", "TABLE1_CUTOFFS", "TERMS", "GapSettings", "gap_fit_command",
           "own_gap_fit", "find_gap_fit", "estimate_memory", "soap_length"]

#: Table 1 cutoffs in units of r: (2b, 3b, SOAP) per bonding kind.
TABLE1_CUTOFFS = {"covalent": (9.0, 2.925, 4.5), "metallic": (8.2, 2.665, 4.1)}

#: Memory of a fit per atomic environment [bytes] at SOAP n_max = l_max = 8 (measured
#: 2026-11-24 on random Si cells of 6–24 atoms, quippy-ase 0.10.3).
_BYTES_PER_ENVIRONMENT = 0.85e6


@dataclass(frozen=True)
class GapSettings:
    """Hyperparameters of the 2b + 3b + SOAP GAP (paper Table 1). Lengths in Å.

    Build it with :meth:`for_chemistry` (the paper's model) or :meth:`light` (a cheap
    model for tests and demos); override single values with :func:`dataclasses.replace`.

    Parameters
    ----------
    cutoff_2b, cutoff_3b, cutoff_soap : float
        Cutoffs [Å] (paper: 9.0 r, 2.925 r, 4.5 r covalent; 8.2 r, 2.665 r, 4.1 r metallic).
    theta_2b, theta_3b : float
        Length scales σ_at of the squared-exponential 2b and 3b kernels [Å] (0.5, 1.0).
    n_sparse_2b, n_sparse_3b, n_sparse_soap : int
        Sparse points (30, 100, 2000). More than there are environments is allowed.
    atom_sigma : float
        SOAP atomic Gaussian width [Å] (0.75).
    n_max, l_max, zeta : int
        SOAP basis and kernel exponent (8, 8, 4).
    soap_transition_width : float
        Width of SOAP's smooth cutoff [Å].
    sparse_jitter : float
        Regulariser added to the sparse covariance diagonal.
    noise : NoiseSettings
        Per-configuration noise.
    seed : int
        gap_fit's random seed (sparse-point choice).
    delta_3b : float or None
        δ_3b [eV] fixed instead of the paper's rule (the per-atom energy error of a 2b-only
        fit; None, the default). Fixed, the 2b-only fit is skipped; δ_2b and δ_SOAP are
        still set automatically. A small δ_3b keeps early compound GAPs from
        extrapolating through the 3-body term (README, the SiC demo).
    virials : bool
        Fit the virials of the periodic cells (the paper: True). gap_fit stores each SOAP
        gradient once per force component and six times more for the virial, so without
        the virials a fit needs about 0.41× the memory (boron at Table 1's settings,
        ``benchmarks/bench_fit_levers.py``): the lever that fits the paper's label budgets
        on a workstation. Measured on held-out boron labels, the forces were as accurate,
        the energies about 8 % and the virials about 60 % worse (the study "The fit's
        memory" in the documentation).
    """

    cutoff_2b: float
    cutoff_3b: float
    cutoff_soap: float
    theta_2b: float = 0.5
    theta_3b: float = 1.0
    n_sparse_2b: int = 30
    n_sparse_3b: int = 100
    n_sparse_soap: int = 2000
    atom_sigma: float = 0.75
    n_max: int = 8
    l_max: int = 8
    zeta: int = 4
    soap_transition_width: float = 1.0
    sparse_jitter: float = 1e-8
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    seed: int = 1
    delta_3b: float | None = None
    virials: bool = True

    def __post_init__(self):
        where = "GapSettings"
        if not isinstance(self.virials, bool):
            raise fail("virials", where, "true or false", self.virials)
        if self.delta_3b is not None:
            check_real(self.delta_3b, "delta_3b", where, low=0.0, low_open=True)
        for name in ("cutoff_2b", "cutoff_3b", "cutoff_soap", "theta_2b", "theta_3b",
                     "atom_sigma", "soap_transition_width", "sparse_jitter"):
            check_real(getattr(self, name), name, where, low=0.0, low_open=True)
        for name in ("n_sparse_2b", "n_sparse_3b", "n_sparse_soap", "n_max", "zeta"):
            check_int(getattr(self, name), name, where, low=1)
        check_int(self.l_max, "l_max", where, low=0)
        if self.soap_transition_width >= self.cutoff_soap:
            raise fail("soap_transition_width", where,
                       f"smaller than cutoff_soap ({self.cutoff_soap} Å)",
                       self.soap_transition_width)

    @classmethod
    def for_chemistry(cls, chemistry, **overrides) -> "GapSettings":
        """The paper's model (Table 1) for ``chemistry``'s radius and bonding kind.

        For a :class:`~gapexplore.core.chemistry.Composition`, the element of the largest
        radius sets the cutoffs (they must reach its bonds); ``add_species=T`` then gives
        every pair of species its own 2b term, every triplet its 3b term and every centre
        species its SOAP, as the paper's model does for one element.
        """
        if isinstance(chemistry, Composition):
            chemistry = max(chemistry.species, key=lambda c: c.radius)
        f2, f3, fs = TABLE1_CUTOFFS[chemistry.bonding]
        r = chemistry.radius
        values = dict(cutoff_2b=round(f2 * r, 4), cutoff_3b=round(f3 * r, 4),
                      cutoff_soap=round(fs * r, 4))
        return cls(**(values | overrides))

    @classmethod
    def light(cls, chemistry: Chemistry, **overrides) -> "GapSettings":
        """A cheap model for tests and demos: 2b cutoff 6 Å, SOAP n = l = 4 with 300 sparse
        points; 3b and the other values as in the paper (about 8 s to fit 50 cells).
        """
        light = dict(n_max=4, l_max=4, n_sparse_soap=300)
        paper = cls.for_chemistry(chemistry)
        return replace(paper, cutoff_2b=min(6.0, paper.cutoff_2b), **(light | overrides))


# --- the gap_fit command -----------------------------------------------------------------

#: The descriptor terms of a fit, in the order the paper adds them.
TERMS = ("2b", "3b", "soap")


def _descriptor(term: str, settings: GapSettings, delta: float) -> str:
    if term == "2b":
        return (f"distance_2b cutoff={settings.cutoff_2b:g} covariance_type=ard_se "
                f"delta={delta:.6g} theta_uniform={settings.theta_2b:g} sparse_method=uniform "
                f"n_sparse={settings.n_sparse_2b} add_species=T")
    if term == "3b":
        return (f"angle_3b cutoff={settings.cutoff_3b:g} covariance_type=ard_se "
                f"delta={delta:.6g} theta_uniform={settings.theta_3b:g} sparse_method=uniform "
                f"n_sparse={settings.n_sparse_3b} add_species=T")
    return (f"soap n_max={settings.n_max} l_max={settings.l_max} "
            f"atom_sigma={settings.atom_sigma:g} cutoff={settings.cutoff_soap:g} "
            f"cutoff_transition_width={settings.soap_transition_width:g} "
            f"covariance_type=dot_product zeta={settings.zeta} delta={delta:.6g} "
            f"sparse_method=cur_points n_sparse={settings.n_sparse_soap} add_species=T")


def gap_fit_command(train_file: str, gp_file: str, settings: GapSettings,
                    deltas: dict[str, float], e0: dict[str, float],
                    executable: str = "gap_fit") -> list[str]:
    """The ``gap_fit`` argument list — the one place where it is formatted.

    Parameters
    ----------
    train_file : str
        extxyz file of labelled structures (``REF_*`` keys, per-configuration σ).
    gp_file : str
        Potential file to write (XML; gap_fit writes sparse-point files beside it).
    settings : GapSettings
        Hyperparameters.
    deltas : dict
        δ [eV] per term (``"2b"``, ``"3b"``, ``"soap"``); only the terms given are fitted.
    e0 : dict
        Isolated-atom energy [eV] per chemical symbol.
    executable : str or list of str
        The gap_fit command (:func:`find_gap_fit`): a path, or a launcher and a path.

    Returns
    -------
    list of str
        For :func:`subprocess.run`, no shell involved.
    """
    terms = [t for t in TERMS if t in deltas]
    if not terms:
        raise fail("deltas", "gap_fit_command", f"a dict with some of the keys {TERMS}", deltas)
    gap = " : ".join(_descriptor(t, settings, deltas[t]) for t in terms)
    e0_text = ":".join(f"{symbol}:{energy:.10g}" for symbol, energy in sorted(e0.items()))
    prefix = [executable] if isinstance(executable, str) else list(executable)
    return prefix + [
        f"at_file={train_file}",
        f"gap={{{gap}}}",
        f"e0={{{e0_text}}}",
        "default_sigma={0.001 0.0316 0.0632 0.0}",
        f"energy_parameter_name={keys.REF_ENERGY}",
        f"force_parameter_name={keys.REF_FORCES}",
        f"virial_parameter_name={keys.REF_VIRIAL}",
        f"config_type_parameter_name={keys.CONFIG_TYPE}",
        f"sparse_jitter={settings.sparse_jitter:g}",
        f"rnd_seed={settings.seed}",
        "do_copy_at_file=F",
        "sparse_separate_file=T",
        f"gp_file={gp_file}",
    ]


#: Environment variable naming the gap_fit command (a path, or a launcher and a path such
#: as ``"mpirun -np 16 /opt/quip/bin/gap_fit"``): for an OpenMP or MPI build of QUIP.
GAP_FIT_VARIABLE = "GAPEXPLORE_GAP_FIT"


def own_gap_fit(command=None):
    """Your own gap_fit command: ``command`` if given, else ``$GAPEXPLORE_GAP_FIT`` if set,
    else None (the wheel's). The one home of that choice."""
    if command is None and os.environ.get(GAP_FIT_VARIABLE, "").strip():
        return os.environ[GAP_FIT_VARIABLE]
    return command


def find_gap_fit(command=None) -> list[str]:
    """The gap_fit command, as an argument list to which the arguments are appended.

    Parameters
    ----------
    command : str or list of str, optional
        Your own: a path, or a launcher with its options and the path (a str is split as
        a shell would, e.g. ``"mpirun -np 16 /opt/quip/bin/gap_fit"``). Default: the
        environment variable ``GAPEXPLORE_GAP_FIT`` if set, else the wheel's gap_fit
        beside the running Python (a venv), else the one on PATH.

    Raises
    ------
    GapFitError
        When the command's program is not found, naming where it was looked for.
    """
    source = "the gap_fit command given" if command is not None else f"${GAP_FIT_VARIABLE}"
    command = own_gap_fit(command)
    if command is not None:
        parts = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        if not parts or shutil.which(parts[0]) is None:
            raise GapFitError(f"{source} ({command!r}) does not start with a program that "
                              "exists: give the path of gap_fit, or a launcher on PATH "
                              "followed by it (e.g. 'mpirun -np 16 /opt/quip/bin/gap_fit').")
        return parts
    beside = Path(sys.executable).parent / "gap_fit"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("gap_fit")
    if found is None:
        raise GapFitError("gap_fit was not found beside the Python interpreter or on PATH. "
                          "Install it with `pip install quippy-ase`, or name your own build "
                          f"in ${GAP_FIT_VARIABLE}.")
    return [found]


def soap_length(settings: GapSettings, n_species: int = 1) -> int:
    """Length of one SOAP vector of the fit: (S n)(S n + 1)/2 (l + 1) for S species
    (``add_species=T`` gives each centre species a SOAP over all S neighbour species)."""
    sn = n_species * settings.n_max
    return sn * (sn + 1) // 2 * (settings.l_max + 1)


#: The share of a fit's memory per environment that does not grow with the SOAP vector
#: (2b and 3b descriptors, covariances): 1/3, from one- and two-species fits of the same
#: cells (``benchmarks/bench_fit_memory.py``).
_FIXED_SHARE = 1 / 3

#: A fit's memory without the virials relative to one with them: 0.41, measured on a boron
#: training set of 3,183 environments at Table 1's settings (2026-12-07,
#: ``benchmarks/bench_fit_levers.py``, the "no-virials" lever).
_NO_VIRIAL_SHARE = 0.41

#: The measurement behind :data:`_BYTES_PER_ENVIRONMENT`: random Si cells at V0 = 19.8 Å³
#: per atom and the paper's SOAP cutoff 4.995 Å, about 26 neighbours per environment.
_REFERENCE_CUTOFF, _REFERENCE_VOLUME = 4.995, 19.8


def estimate_memory(n_environments: int, settings: GapSettings, n_species: int = 1,
                    volume_per_atom: float | None = None) -> float:
    """Rough peak memory of one fit [bytes].

    0.85 MB per atomic environment as measured for random Si cells at n_max = l_max = 8
    (2026-11-24, quippy-ase 0.10.3), two thirds of it scaled by the SOAP vector length
    (:func:`soap_length`, which grows as the square of the number of species) and, given
    ``volume_per_atom`` [Å³] (the training cells' mean), all of it by the neighbours within
    the SOAP cutoff:
    gap_fit keeps every descriptor's gradient with respect to each neighbour. The shares
    are measured by ``benchmarks/bench_fit_memory.py`` (the same 2,560 environments of
    16-atom SiC cells as one and as two species: 3.9 and 11.2 GiB). A fit without virials
    (``settings.virials`` False) needs 0.41× that (measured on boron).
    """
    length = soap_length(settings, n_species) / 324   # 324: n_max = l_max = 8, one species
    ratio = _FIXED_SHARE + (1 - _FIXED_SHARE) * length
    if volume_per_atom is not None:
        # neighbours within the cutoff, (4/3) π r_c³ / V, relative to the measurement's
        ratio *= (settings.cutoff_soap**3 / volume_per_atom) \
            / (_REFERENCE_CUTOFF**3 / _REFERENCE_VOLUME)
    ratio = max(ratio, 0.25) * (1.0 if settings.virials else _NO_VIRIAL_SHARE)
    return n_environments * _BYTES_PER_ENVIRONMENT * ratio
