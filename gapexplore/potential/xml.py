"""Read a potential written by ``gap_fit`` (its XML and ``*.sparseX.*`` files).

A GAP is a sum of terms, one per ``gpCoordinates`` element of the XML; each term is a
descriptor (``distance_2b``, ``angle_3b`` or ``soap``, with ``add_species=T`` one term per
combination of species) and a sparse Gaussian process over it: sparse points x_s, their
weights α_s and cutoffs f_s, the scale δ and, for the squared-exponential (``ard_se``)
kernel, length scales θ; for the ``dot_product`` kernel an exponent ζ. A term's local
energy of a descriptor x with cutoff weight f_c(x) is

    ε(x) = f_c(x) Σ_s α_s f_s k(x, x_s),
    k = δ² exp(−½ Σ_d ((x_d − x_s,d)/θ_d)²)   (ard_se)
    k = δ² (x · x_s)^ζ                           (dot_product),

and the energy of a structure is Σ_i e0(Z_i) plus the sum of ε over all its descriptors.
Only what this project fits is read; anything else is refused with a message.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gapexplore.core.checks import fail

__all__ = ["SparseGP", "Distance2b", "Angle3b", "Soap", "GapModel", "read_gap_xml"]

#: ``covariance_type`` numbers of gp_predict.
_ARD_SE, _DOT_PRODUCT = 1, 2
#: gap_version from which SOAP's power spectrum carries 1/√(2l+1), and from which the
#: central atom's Gaussian joins only its own species' density (QUIP's defaults).
_TWO_L_PLUS_ONE_VERSION = 1423143769
_CENTRAL_OWN_SPECIES_VERSION = 1426512068


@dataclass(frozen=True, eq=False)
class SparseGP:
    """The sparse Gaussian process of one term.

    Attributes
    ----------
    kernel : str
        ``"ard_se"`` or ``"dot_product"``.
    delta : float
        δ [eV]; the kernel is scaled by δ².
    sparse_x : numpy.ndarray
        Sparse points, shape (n_sparse, d) (SOAP: without the trailing σ₀ element).
    alpha : numpy.ndarray
        Weights α_s [eV⁻¹] (δ² α_s k is in eV), shape (n_sparse,).
    sparse_cutoff : numpy.ndarray
        Cutoff weight f_s of each sparse point, shape (n_sparse,).
    theta : numpy.ndarray or None
        Length scales θ_d of ``ard_se`` [descriptor units], shape (d,).
    zeta : float or None
        Exponent ζ of ``dot_product``.
    """

    kernel: str
    delta: float
    sparse_x: np.ndarray
    alpha: np.ndarray
    sparse_cutoff: np.ndarray
    theta: np.ndarray | None = None
    zeta: float | None = None


@dataclass(frozen=True, eq=False)
class Distance2b:
    """``distance_2b``: every ordered pair (i, j) with r_ij < cutoff whose species are
    {z1, z2}; x = r_ij [Å], f_c the cosine cutoff of ``width`` [Å] ending at ``cutoff``."""

    cutoff: float
    width: float
    z1: int
    z2: int
    gp: SparseGP


@dataclass(frozen=True, eq=False)
class Angle3b:
    """``angle_3b``: a centre i of species ``z`` and two of its neighbours j ≠ k within
    ``cutoff`` of species {z1, z2} (ordered); x = (r_ij + r_ik, (r_ij − r_ik)², r_jk) [Å,
    Å², Å], f_c = f(r_ij) f(r_ik)."""

    cutoff: float
    width: float
    z: int
    z1: int
    z2: int
    gp: SparseGP


@dataclass(frozen=True, eq=False)
class Soap:
    """``soap`` on centres of species ``z``: neighbour densities of each of ``species``
    (Gaussians of width ``atom_sigma`` [Å]) expanded in QUIP's ``EQUISPACED_GAUSS`` radial
    basis of ``n_max`` functions and spherical harmonics up to ``l_max``; the power
    spectrum, normalised; ``central_all``: the central atom's Gaussian is added to every
    species' density (else only to its own species')."""

    cutoff: float
    width: float
    n_max: int
    l_max: int
    atom_sigma: float
    central_weight: float
    z: int
    species: tuple
    central_all: bool
    two_l_plus_one: bool
    gp: SparseGP


@dataclass(frozen=True, eq=False)
class GapModel:
    """A GAP read from ``gap_fit``'s XML.

    Attributes
    ----------
    terms : tuple
        :class:`Distance2b`, :class:`Angle3b` and :class:`Soap` terms, in the file's order.
    e0 : dict
        Isolated-atom energy [eV] per atomic number, where it is not zero.
    path : pathlib.Path or None
        The XML file.
    """

    terms: tuple
    e0: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def cutoff(self) -> float:
        """The largest cutoff of the terms [Å]."""
        return max((t.cutoff for t in self.terms), default=0.0)

    @property
    def species(self) -> tuple:
        """Atomic numbers the terms know, sorted."""
        found = set()
        for t in self.terms:
            found |= {t.z1, t.z2} if isinstance(t, Distance2b) else {t.z} | (
                {t.z1, t.z2} if isinstance(t, Angle3b) else set(t.species))
        return tuple(sorted(found - {0}))


def _descriptor_options(text: str) -> tuple[str, dict]:
    """The descriptor's name and its ``key=value`` options (values in braces kept whole)."""
    text = text.strip()
    name, _, rest = text.partition(" ")
    options = {}
    for key, braced, plain in re.findall(r"(\w+)\s*=\s*(?:\{([^}]*)\}|(\S+))", rest):
        options[key.lower()] = braced if braced else plain
    return name, options


def _flag(value: str) -> bool:
    return value.strip().upper() in ("T", "TRUE", "1")


def _refuse(path, what: str, got) -> Exception:
    return fail("path", "read_gap_xml", f"a GAP of distance_2b, angle_3b and soap terms "
                f"as gap_fit writes them ({what})", f"{got} in {path}")


def _sparse_gp(element, path: Path) -> SparseGP:
    attributes = element.attrib
    kind = int(attributes["covariance_type"])
    n_sparse = int(attributes["n_sparseX"])
    d = int(attributes["dimensions"])
    if int(attributes.get("n_permutations", "1")) != 1:
        raise _refuse(path, "one permutation per term", f"n_permutations="
                      f"{attributes['n_permutations']}")
    if float(attributes.get("signal_mean", "0")) != 0.0 or float(attributes.get("f0", "0")):
        raise _refuse(path, "zero signal mean and f0", "a non-zero one")
    sparse_file = path.parent / attributes["sparseX_filename"]
    if not sparse_file.exists():
        raise fail("path", "read_gap_xml", "a GAP XML whose sparse-point files lie beside it",
                   f"{path}, missing {sparse_file.name}")
    md5 = attributes.get("sparseX_md5sum")
    if md5 and hashlib.md5(sparse_file.read_bytes()).hexdigest() != md5:
        raise fail("path", "read_gap_xml", "a GAP XML whose sparse-point files match their "
                   "checksums", f"{path}, {sparse_file.name} damaged")
    values = np.array(sparse_file.read_text().split(), dtype=float)
    if values.size != n_sparse * d:
        raise fail("path", "read_gap_xml", f"sparse-point files of n_sparseX × dimensions "
                   f"({n_sparse} × {d}) numbers", f"{values.size} in {sparse_file.name}")
    rows = sorted(element.findall("sparseX"), key=lambda e: int(e.attrib["i"]))
    alpha = np.array([float(e.attrib["alpha"]) for e in rows])
    sparse_cutoff = np.array([float(e.attrib.get("sparseCutoff", "1")) for e in rows])
    delta = float(attributes["signal_variance"])
    sparse_x = values.reshape(n_sparse, d)
    if kind == _ARD_SE:
        theta = np.array(element.findtext("theta").split(), dtype=float)
        return SparseGP("ard_se", delta, sparse_x, alpha, sparse_cutoff, theta=theta)
    if kind == _DOT_PRODUCT:
        return SparseGP("dot_product", delta, sparse_x[:, :-1], alpha, sparse_cutoff,
                        zeta=float(attributes["zeta"]))
    raise _refuse(path, "ard_se or dot_product covariance", f"covariance_type={kind}")


def _term(element, path: Path, version: int):
    name, options = _descriptor_options(element.findtext("descriptor"))
    gp = _sparse_gp(element, path)
    width = float(options.get("cutoff_transition_width", "0.5"))
    cutoff = float(options["cutoff"])
    if name == "distance_2b":
        checks = {"exponents": ("1", lambda v: float(v) == 1.0),
                  "tail_exponent": ("0", lambda v: float(v) == 0.0),
                  "only_intra": ("F", lambda v: not _flag(v)),
                  "only_inter": ("F", lambda v: not _flag(v))}
        for key, (default, good) in checks.items():
            if key in options and not good(options[key]):
                raise _refuse(path, f"distance_2b with {key}={default}", f"{key}={options[key]}")
        return Distance2b(cutoff, width, int(options.get("z1", "0")),
                          int(options.get("z2", "0")), gp)
    if name == "angle_3b":
        return Angle3b(cutoff, width, int(options.get("z", "0")), int(options.get("z1", "0")),
                       int(options.get("z2", "0")), gp)
    if name == "soap":
        return _soap(options, cutoff, width, gp, path, version)
    raise _refuse(path, "distance_2b, angle_3b or soap", name)


def _soap(options: dict, cutoff: float, width: float, gp: SparseGP, path: Path,
          version: int) -> Soap:
    checks = {"cutoff_dexp": ("0", lambda v: float(v) == 0.0),
              "normalise": ("T", _flag), "normalize": ("T", _flag),
              "average": ("F", lambda v: not _flag(v)),
              "diagonal_radial": ("F", lambda v: not _flag(v)),
              "radial_basis": ("EQUISPACED_GAUSS", lambda v: v.upper() in ("", "EQUISPACED_GAUSS")),
              "n_z": ("1", lambda v: int(v) == 1),
              "covariance_sigma0": ("0", lambda v: float(v) == 0.0)}
    for key in ("z_mix", "r_mix", "sym_mix"):
        checks[key] = ("F", lambda v: not _flag(v))
    checks["nu_r"] = ("2", lambda v: int(v) == 2)
    checks["nu_s"] = ("2", lambda v: int(v) == 2)
    checks["coupling"] = ("T", _flag)
    for key, (default, good) in checks.items():
        if key in options and not good(options[key]):
            raise _refuse(path, f"soap with {key}={default}", f"{key}={options[key]}")
    n_species = int(options.get("n_species", "1"))
    species = tuple(int(z) for z in options.get("species_z", "0").split())
    if len(species) != n_species:
        raise _refuse(path, "soap with n_species atomic numbers in species_Z",
                      f"n_species={n_species}, species_Z={species}")
    if "central_reference_all_species" in options:
        central_all = _flag(options["central_reference_all_species"])
    else:
        central_all = n_species == 1
    central_all = central_all or version < _CENTRAL_OWN_SPECIES_VERSION   # as QUIP does
    sigma = options.get("atom_sigma", options.get("atom_gaussian_width"))
    return Soap(cutoff, width, int(options["n_max"]), int(options["l_max"]), float(sigma),
                float(options.get("central_weight", "1")), int(options.get("z", "0")),
                species, central_all, version >= _TWO_L_PLUS_ONE_VERSION, gp)


def read_gap_xml(path) -> GapModel:
    """Read the GAP in ``path`` (``gap_fit``'s XML; its sparse-point files beside it).

    Parameters
    ----------
    path : str or pathlib.Path
        The XML file.

    Returns
    -------
    GapModel

    Raises
    ------
    InvalidParameterError
        The file is missing, is not a GAP, or holds a descriptor, kernel or option this
        reader does not implement (named in the message).
    """
    path = Path(path)
    if not path.is_file():
        raise fail("path", "read_gap_xml", "an existing GAP XML file", str(path))
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise fail("path", "read_gap_xml", "a complete XML file", f"{path} ({error})") from None
    params = root if root.tag == "GAP_params" else root.find("GAP_params")
    if params is None:
        raise fail("path", "read_gap_xml", "a GAP XML file (with GAP_params)", str(path))
    version = int(params.attrib.get("gap_version", "0"))
    data = params.find("GAP_data")
    e0 = {}
    if data is not None:
        if "e0" in data.attrib:
            raise _refuse(path, "e0 per element", "one e0 for all")
        for element in data.findall("e0"):
            e0[int(element.attrib["Z"])] = float(element.attrib["value"].replace("D", "E"))
        if _flag(data.attrib.get("do_core", "F")) or _flag(data.attrib.get("do_pca", "F")):
            raise _refuse(path, "no core potential or PCA", "do_core or do_pca")
    sparse = params.find("gpSparse")
    if sparse is None:
        raise fail("path", "read_gap_xml", "a GAP XML file (with gpSparse)", str(path))
    terms = tuple(_term(element, path, version) for element in sparse.findall("gpCoordinates"))
    return GapModel(terms=terms, e0={z: v for z, v in e0.items() if v != 0.0}, path=path)
