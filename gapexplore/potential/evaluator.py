"""Energy, forces and stress of a GAP for a batch of cells at once.

All cells' atoms and neighbour pairs are concatenated and every term is evaluated in one
pass over the batch; forces (−∂E/∂r) and stress ((1/V) ∂E/∂ε, ASE's sign, eV/Å³) come
from one reverse-mode derivative of the total energy, with each cell strained by its own
ε: r → r (1 + ε), cell → cell (1 + ε).

Why torch (measured 2026-12-07 on a shared 2-core AMD EPYC VM, one thread, float64).
A GAP call through ``quippy.potential.Potential`` costs about 30 ms of CPU (light model)
to 80 ms (Table 1's) on a 15-atom random Si cell here, much of it fixed per call; the
terms are dense array work (pair lists, a SOAP expansion, kernel rows against the sparse
points). torch's
reverse mode differentiates the whole chain — radial basis, spherical harmonics, power
spectrum, normalisation, cutoffs and each cell's strain — so forces and stress need no
hand-written gradients, and they agree with quippy to about 1e-10. Autograd is not free:
on the largest array, the 3-body kernel (50,000 descriptors × 100 sparse points × 3),
numpy's forward pass with a hand-written gradient took 75 ms and torch's autograd 363 ms
(torch's float64 ``exp`` and the backward's extra passes over the kernel). So that kernel
carries its derivative written out (``gapexplore.potential.descriptors._ard_se_function``,
72 ms: numpy's speed), and autograd does the rest; a tiny autograd call costs about
40 µs. Batched, an evaluation costs about 2 ms of CPU per 15-atom cell with the light
model (5 ms with Table 1's), 7 ms for a single cell (``benchmarks/bench_engine.py``).
The same code takes ``device="cuda"``; it has not been run on a GPU yet.

torch is imported when a batch is evaluated, not when this module is, so that
``import gapexplore`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from gapexplore.core.checks import check_int, check_structures, fail
from gapexplore.potential.descriptors import Pairs, angle_3b_energy, distance_2b_energy
from gapexplore.potential.neighbours import neighbour_pairs
from gapexplore.potential.soap import soap_energy, soap_radial_transform
from gapexplore.potential.xml import Angle3b, Distance2b, GapModel, Soap, read_gap_xml

__all__ = ["Results", "GapEvaluator", "evaluate"]


@dataclass
class Results:
    """What one batch evaluation gives, per cell.

    Attributes
    ----------
    energy : numpy.ndarray
        Energy [eV] of each cell, shape (n_cells,).
    forces : list of numpy.ndarray
        Forces [eV/Å] of each cell, shape (n_atoms, 3).
    stress : numpy.ndarray
        Stress [eV/Å³] of each cell as ASE's Voigt 6-vector (xx, yy, zz, yz, xz, xy),
        shape (n_cells, 6); NaN for cells that are not periodic in all three directions.
    shortest : numpy.ndarray
        Shortest interatomic distance [Å] of each cell, periodic images included, among
        the pairs within the GAP's cutoff (``inf`` when there are none), shape (n_cells,).
    """

    energy: np.ndarray
    forces: list
    stress: np.ndarray
    shortest: np.ndarray


class GapEvaluator:
    """A GAP evaluated natively (torch), a batch of cells at a time.

    Parameters
    ----------
    potential : str, pathlib.Path or GapModel
        The XML written by ``gap_fit`` (sparse-point files beside it), or its model.
    device : str
        torch device (``"cpu"``, ``"cuda"``).
    max_atoms : int
        Atoms per pass: a longer list of structures is evaluated in consecutive passes of
        at most this many atoms (a structure is never split). Measured on one CPU core
        (128 random Si cells of 6–24 atoms, CPU ms per cell for passes of 64 / 128 / 256 /
        512 / 1024 atoms): light model 2.95 / 2.17 / 1.94 / 1.82 / 2.00, Table 1 model
        6.31 / 5.11 / 4.97 / 5.50 / 6.19; hence 256. On a GPU, larger passes should pay.
    threads : int
        torch's threads while this evaluator computes (set for each pass and restored
        after it). One by default: parallelism comes from processes, and the arrays of a
        pass are small; with torch's default (all cores) on a busy 2-core machine, 8
        relaxations took 45 CPU-seconds instead of 10 (measured 2026-12-07).

    Notes
    -----
    Double precision throughout: a GAP's weights α_s reach 10⁴ with alternating signs, and
    in single precision the energies of the light Si model moved by up to 10 meV/atom.

    Examples
    --------
    >>> gap = GapEvaluator("gap.xml")                        # doctest: +SKIP
    >>> results = gap.evaluate(cells)                        # doctest: +SKIP
    >>> results.energy, results.forces[0], results.stress    # doctest: +SKIP
    """

    def __init__(self, potential, *, device: str = "cpu", max_atoms: int = 256,
                 threads: int = 1):
        where = "GapEvaluator"
        if isinstance(potential, GapModel):
            self.model = potential
        elif isinstance(potential, (str, Path)):
            self.model = read_gap_xml(potential)
        else:
            raise fail("potential", where, "a GAP XML path or a GapModel",
                       type(potential).__name__)
        self.device = device
        self.max_atoms = check_int(max_atoms, "max_atoms", where, low=1)
        self.threads = check_int(threads, "threads", where, low=1)
        self._bases = {id(t): soap_radial_transform(t) for t in self.model.terms
                       if isinstance(t, Soap)}

    def evaluate(self, structures: list[Atoms]) -> Results:
        """Energy, forces and stress of every structure, in passes of about
        ``max_atoms`` atoms.

        Parameters
        ----------
        structures : list of ase.Atoms
            Cells or clusters (not modified) of the GAP's elements.

        Returns
        -------
        Results

        Raises
        ------
        InvalidParameterError
            A structure with no atoms or with an element the GAP has no term for (it
            would get that element's e0 and no interactions).
        """
        where = "GapEvaluator.evaluate"
        structures = check_structures(structures, "structures", where)
        if not structures:
            return Results(np.zeros(0), [], np.zeros((0, 6)), np.zeros(0))
        known = set(self.model.species)
        for index, atoms in enumerate(structures):
            unknown = sorted(set(atoms.get_chemical_symbols())
                             - {chemical_symbols[z] for z in known})
            if unknown or not len(atoms):
                elements = ", ".join(chemical_symbols[z] for z in sorted(known))
                raise fail("structures", where, f"a list of structures of atoms of the "
                           f"GAP's elements ({elements})",
                           f"{', '.join(unknown) or 'no atoms'} in structure {index}")
        parts, chunk, size = [], [], 0
        for atoms in structures:
            if chunk and size + len(atoms) > self.max_atoms:
                parts.append(self._evaluate(chunk))
                chunk, size = [], 0
            chunk.append(atoms)
            size += len(atoms)
        parts.append(self._evaluate(chunk))
        return Results(energy=np.concatenate([p.energy for p in parts]),
                       forces=[f for p in parts for f in p.forces],
                       stress=np.concatenate([p.stress for p in parts]),
                       shortest=np.concatenate([p.shortest for p in parts]))

    def _evaluate(self, structures: list[Atoms]) -> Results:
        """One pass over a batch of checked structures, on :attr:`threads` threads."""
        torch = _torch()
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._pass(torch, structures)
        finally:
            torch.set_num_threads(before)

    def _pass(self, torch, structures: list[Atoms]) -> Results:

        dtype = torch.float64
        device = self.device
        counts = np.array([len(a) for a in structures])
        atom_cell = np.repeat(np.arange(len(structures)), counts)
        numbers = np.concatenate([a.numbers for a in structures])
        i, j, shift, pair_cell = neighbour_pairs(structures, self.model.cutoff)

        positions = torch.tensor(np.concatenate([a.positions for a in structures]),
                                 dtype=dtype, device=device, requires_grad=True)
        cells = torch.tensor(np.stack([a.cell.array for a in structures]), dtype=dtype,
                             device=device)
        strain = torch.zeros(len(structures), 3, 3, dtype=dtype, device=device,
                             requires_grad=True)
        deformation = torch.eye(3, dtype=dtype, device=device) + strain
        atom_cell_t = torch.as_tensor(atom_cell, device=device)
        pair_cell_t = torch.as_tensor(pair_cell, device=device)
        strained = torch.einsum("na,nab->nb", positions, deformation[atom_cell_t])
        strained_cells = cells @ deformation
        lattice_shift = torch.einsum("pa,pab->pb", torch.as_tensor(shift, dtype=dtype,
                                                                   device=device),
                                     strained_cells[pair_cell_t])
        i_t, j_t = torch.as_tensor(i, device=device), torch.as_tensor(j, device=device)
        vector = strained[j_t] - strained[i_t] + lattice_shift
        distance = torch.linalg.vector_norm(vector, dim=1)
        pairs = Pairs(i=i, j=j, cell=pair_cell, vector=vector, distance=distance,
                      distance_np=distance.detach().cpu().numpy(), numbers=numbers,
                      atom_cell=atom_cell)

        energy = torch.zeros(len(structures), dtype=dtype, device=device)
        for term in self.model.terms:
            if isinstance(term, Distance2b):
                local, where = distance_2b_energy(term, pairs)
            elif isinstance(term, Angle3b):
                local, where = angle_3b_energy(term, pairs)
            else:
                local, where = soap_energy(term, pairs, self._bases[id(term)])
            energy = energy.index_add(0, torch.as_tensor(where, device=device), local)
        e0 = np.array([self.model.e0.get(int(z), 0.0) for z in numbers])
        e0_cells = np.bincount(atom_cell, weights=e0, minlength=len(structures))

        grad_positions, grad_strain = torch.autograd.grad(energy.sum(), [positions, strain],
                                                          allow_unused=True)
        forces = 0.0 - _numpy(grad_positions, positions)     # 0.0 −: no −0.0
        dedstrain = _numpy(grad_strain, strain)
        stress = np.full((len(structures), 6), np.nan)
        for index, atoms in enumerate(structures):
            if atoms.pbc.all():
                sigma = dedstrain[index] / atoms.get_volume()
                sigma = 0.5 * (sigma + sigma.T)
                stress[index] = sigma[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        shortest = np.full(len(structures), np.inf)
        np.minimum.at(shortest, pair_cell, pairs.distance_np)
        return Results(energy=energy.detach().cpu().numpy() + e0_cells,
                       forces=np.split(forces, np.cumsum(counts)[:-1]), stress=stress,
                       shortest=shortest)


def _torch():
    """torch, or an ImportError that says how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError("The native GAP evaluator needs torch. Install its CPU build with "
                          "`pip install torch==2.13.0` (a plain `pip install torch` may "
                          "fetch a CUDA build of several GB).") from None
    return torch


def _numpy(gradient, like) -> np.ndarray:
    if gradient is None:
        return np.zeros(tuple(like.shape))
    return gradient.detach().cpu().numpy()


def evaluate(potential, structures: list[Atoms], **options) -> Results:
    """Energy, forces and stress of ``structures`` with the GAP ``potential`` (one pass).

    Parameters
    ----------
    potential : str, pathlib.Path, GapModel or GapEvaluator
    structures : list of ase.Atoms
    **options
        ``device`` of :class:`GapEvaluator`.

    Returns
    -------
    Results
    """
    evaluator = potential if isinstance(potential, GapEvaluator) else GapEvaluator(potential,
                                                                                   **options)
    return evaluator.evaluate(structures)
