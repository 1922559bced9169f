"""Boron phase ordering, CHGNet against PBE: α-B12, γ-B28 and a 14-atom R-3m cell.

A boron exploration run with CHGNet as its reference found a 14-atom R-3m cell, α-B12's
icosahedron with a two-atom B–B chain along the rhombohedral axis (12 six-coordinated
atoms, 2 four-coordinated; ``benchmarks/boron_b14_chgnet.xyz``, relaxed by CHGNet), which
CHGNet puts far below α-B12, the PBE ground state of boron at 0 GPa. This script asks
PBE (GPAW, plane waves) whether that ordering holds.

For α-B12 (:func:`gapexplore.crystals.known_structure`), the B14 cell and γ-B28
(:func:`gapexplore.crystals.held_out_structure`):

1. a CHGNet relaxation at zero pressure, space group kept (ASE's ``FixSymmetry``,
   symprec 1e-3 Å) through ``FrechetCellFilter``, BFGS to fmax 0.005 eV/Å;
2. a PBE single point at the CHGNet geometry (:func:`gapexplore.label.dft.gpaw_calculator`,
   the paper's boron settings by default: 500 eV, k-spacing 0.25 Å⁻¹, Fermi–Dirac 0.05 eV);
3. with ``--relax``: a PBE relaxation from the CHGNet geometry with the same constraints
   (BFGS, fmax ``--pbe-fmax`` eV/Å, at most ``--pbe-steps`` steps; not converged is said).

and prints a table: energies [eV/atom] and volumes [Å³/atom] by CHGNet and PBE, and each
structure's energy relative to α-B12 [meV/atom]. The energy is GPAW's, extrapolated to
zero smearing. All structures are computed with the same settings (an energy difference
needs them). Results are kept in ``--cache`` (JSON) as they come, so a later call with
``--relax`` reuses the single points.

Usage (from the repository root; GPAW from ``make gpaw``, CHGNet from ``pip install chgnet``)::

    nice -n 5 python benchmarks/boron_ordering.py                       # single points
    nice -n 5 python benchmarks/boron_ordering.py --relax               # and PBE relaxations
    nice -n 5 python benchmarks/boron_ordering.py --ecut 400 --kspacing 0.35   # cheaper

Measured 2026-12-07 on a shared 2-core AMD EPYC VM (GPAW 26.7.0, CHGNet 0.4.2, one
thread; other jobs running; ``--relax --pbe-minutes 35``, 69 min): E − E(α-B12) by CHGNet,
PBE at CHGNet's geometry and PBE relaxed: B14 −82, +246, +227 meV/atom (PBE relaxation
stopped at 15 steps); γ-B28 +24, +58, +31 meV/atom (stopped at 6 steps). The whole output
is ``docs/studies/boron-ordering.txt``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import _common  # noqa: F401  one BLAS thread: before numpy loads
import numpy as np
from ase.io import read

from gapexplore.crystals import held_out_structure, known_structure
from gapexplore.label import reference_calculator
from gapexplore.label.dft import ELEMENT_SETTINGS, gpaw_calculator, kpoint_grid

HERE = Path(__file__).resolve().parent
B14_FILE = HERE / "boron_b14_chgnet.xyz"
NAMES = ("alpha-B12", "B14", "gamma-B28")
SYMPREC = 1e-3


def starting_structures() -> dict:
    """The three structures before any relaxation (α-B12 and γ-B28 from published
    parameters, B14 as CHGNet relaxed it in the run)."""
    return {"alpha-B12": known_structure("B", "alpha-B12"),
            "B14": read(B14_FILE),
            "gamma-B28": held_out_structure("B", "gamma-B28")}


def space_group(atoms) -> str:
    """International symbol and number at :data:`SYMPREC` (spglib)."""
    import spglib

    return spglib.get_spacegroup((atoms.cell.array, atoms.get_scaled_positions(),
                                  atoms.numbers), symprec=SYMPREC)


def centre_on_inversion(atoms) -> None:
    """Move ``atoms`` (in place) so that an inversion centre, if it has one, is the origin.

    GPAW uses only symmetry operations without a fractional translation (its default
    ``symmorphic=True``): with the origin elsewhere a centrosymmetric cell such as the B14
    cell keeps 1 of its 12 operations, and GPAW computes 112 k-points instead of 20.
    """
    import spglib

    data = spglib.get_symmetry((atoms.cell.array, atoms.get_scaled_positions(),
                                atoms.numbers), symprec=SYMPREC)
    for rotation, translation in zip(data["rotations"], data["translations"]):
        if np.array_equal(rotation, -np.eye(3, dtype=int)):
            # x -> -x + t has its centre at t / 2
            atoms.translate(-atoms.cell.cartesian_positions(translation / 2))
            atoms.wrap()
            return


def relax_symmetric(atoms, calculator, fmax: float, steps: int, log=None,
                    seconds: float | None = None):
    """Zero-pressure BFGS relaxation of ``atoms`` with its space group kept and the cell
    free (``FrechetCellFilter``), stopped after ``steps`` steps or, when given, after the
    step that passes ``seconds`` of wall time.

    Returns
    -------
    tuple
        The relaxed copy (constraint removed), whether fmax [eV/Å] was reached, the steps
        taken.
    """
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    from ase.spacegroup.symmetrize import refine_symmetry

    work = atoms.copy()
    # Exact symmetry first: GPAW finds a structure's symmetry at a tolerance of 1e-7 Å and
    # otherwise computes every k-point (B14 as stored: 1 symmetry, 112 k-points, not 12).
    refine_symmetry(work, symprec=SYMPREC)
    centre_on_inversion(work)
    work.calc = calculator
    work.set_constraint(FixSymmetry(work, symprec=SYMPREC))
    optimiser = BFGS(FrechetCellFilter(work), logfile=log)
    start, converged = time.perf_counter(), False
    for reached in optimiser.irun(fmax=fmax, steps=steps):
        converged = bool(reached)
        if seconds is not None and time.perf_counter() - start > seconds:
            break
    energy = work.get_potential_energy()
    work.set_constraint()
    refine_symmetry(work, symprec=SYMPREC)
    return work, converged, optimiser.nsteps, energy


def per_atom(atoms, energy: float) -> dict:
    """Energy [eV/atom], volume [Å³/atom], cell parameters [Å, °] of a structure."""
    return {"energy": float(energy) / len(atoms),
            "volume": float(atoms.get_volume()) / len(atoms),
            "cellpar": [round(float(x), 4) for x in atoms.cell.cellpar()],
            "cell": atoms.cell.array.tolist(),
            "positions": atoms.positions.tolist()}


def as_atoms(record: dict, n: int):
    """The structure a cached record stores."""
    from ase import Atoms

    return Atoms(["B"] * n, positions=record["positions"], cell=record["cell"], pbc=True)


def chgnet_step(name: str, atoms, fmax: float) -> dict:
    start = time.perf_counter()
    relaxed, converged, steps, energy = relax_symmetric(
        atoms, reference_calculator("chgnet"), fmax, 2000)
    record = per_atom(relaxed, energy)
    record.update(converged=converged, steps=steps, seconds=time.perf_counter() - start,
                  space_group=space_group(relaxed), n=len(relaxed))
    print(f"CHGNet {name}: {record['energy']:.4f} eV/atom, {record['volume']:.3f} Å³/atom, "
          f"{record['space_group']}, {steps} steps, converged {converged}, "
          f"{record['seconds']:.0f} s", flush=True)
    return record


def pbe(atoms, args, txt):
    return gpaw_calculator("B", kind="bulk", cell=atoms.cell, preset="paper",
                           ecut=args.ecut, kspacing=args.kspacing, txt=txt)


def gpaw_symmetry(log: Path) -> dict:
    """Symmetries and irreducible k-points that GPAW used, read from its log."""
    import re

    text = log.read_text()
    found = {}
    for field, pattern in (("symmetries", r"Number of symmetries: (\d+)"),
                           ("ibz_kpoints", r"Number of IBZ points: (\d+)")):
        match = re.search(pattern, text)
        found[field] = int(match.group(1)) if match else None
    return found


def pbe_single(name: str, atoms, args) -> dict:
    start = time.perf_counter()
    work = atoms.copy()
    work.calc = pbe(work, args, args.logs / f"{name}-single.txt")
    energy = work.get_potential_energy()
    forces = work.get_forces()
    stress = work.get_stress()
    record = {"energy": float(energy) / len(work),
              "volume": float(work.get_volume()) / len(work),
              "fmax": float(np.linalg.norm(forces, axis=1).max()),
              "pressure_GPa": float(-stress[:3].mean() * 160.21766),
              "seconds": time.perf_counter() - start,
              "kpts": list(kpoint_grid(work.cell, args.kspacing)),
              **gpaw_symmetry(args.logs / f"{name}-single.txt")}
    print(f"PBE single point {name}: {record['energy']:.4f} eV/atom, k {record['kpts']} "
          f"({record['symmetries']} symmetries, {record['ibz_kpoints']} k-points), "
          f"max force {record['fmax']:.3f} eV/Å, pressure {record['pressure_GPa']:.2f} GPa, "
          f"{record['seconds']:.0f} s", flush=True)
    return record


def pbe_relax(name: str, atoms, args) -> dict:
    start = time.perf_counter()
    log = args.logs / f"{name}-relax-steps.txt"
    relaxed, converged, steps, energy = relax_symmetric(
        atoms, pbe(atoms, args, args.logs / f"{name}-relax.txt"), args.pbe_fmax,
        args.pbe_steps, log=str(log),
        seconds=None if args.pbe_minutes is None else 60 * args.pbe_minutes)
    record = per_atom(relaxed, energy)
    record.update(converged=converged, steps=steps, seconds=time.perf_counter() - start)
    print(f"PBE relaxed {name}: {record['energy']:.4f} eV/atom, {record['volume']:.3f} Å³/atom,"
          f" {steps} steps, converged {converged}, {record['seconds']:.0f} s", flush=True)
    return record


def describe(record: dict) -> str:
    """One line on a cached step: its time and what it reached."""
    parts = [f"{record['seconds']:5.0f} s"]
    if "steps" in record:
        parts.append(f"{record['steps']} steps, converged {record['converged']}")
    if "space_group" in record:
        parts.append(record["space_group"])
    if "kpts" in record:
        parts.append(f"k {'x'.join(map(str, record['kpts']))}, {record['symmetries']} "
                     f"symmetries, {record['ibz_kpoints']} k-points; max force "
                     f"{record['fmax']:.3f} eV/Å, pressure {record['pressure_GPa']:+.2f} GPa")
    if "cellpar" in record:
        parts.append("cell " + " ".join(f"{x:g}" for x in record["cellpar"]))
    return "; ".join(parts)


def key(args) -> str:
    return f"ecut={args.ecut:g} kspacing={args.kspacing:g}"


def table(cache: dict, args) -> None:
    pbe_key = key(args)
    rows = {name: (cache["chgnet"].get(name), cache.get(pbe_key, {}).get("single", {}).get(name),
                   cache.get(pbe_key, {}).get("relax", {}).get(name)) for name in NAMES}

    def diff(which, name, index):
        ref, mine = rows["alpha-B12"][index], rows[name][index]
        if not ref or not mine:
            return "—"
        return f"{1000 * (mine[which] - ref[which]):+.0f}"

    def value(record, field, fmt):
        return format(record[field], fmt) if record else "—"

    print()
    print(f"PBE settings: {pbe_key} (Å⁻¹, 2π included), Fermi–Dirac 0.05 eV, GPAW energy "
          f"extrapolated to zero smearing; CHGNet {version('chgnet')}")
    print("Energies [eV/atom], volumes [Å³/atom]; Δ = E − E(α-B12) [meV/atom]")
    header = (f"{'structure':<10} {'atoms':>5} {'E CHGNet':>9} {'V CHGNet':>8} "
              f"{'E PBE@CHGNet':>12} {'E PBE rel.':>10} {'V PBE rel.':>10} "
              f"{'Δ CHGNet':>8} {'Δ PBE@CHGNet':>12} {'Δ PBE rel.':>10}")
    print(header)
    print("-" * len(header))
    for name, (chg, single, relaxed) in rows.items():
        n = chg["n"] if chg else 0
        note = ""
        if relaxed and not relaxed["converged"]:
            note = f"  (PBE relaxation stopped after {relaxed['steps']} steps)"
        print(f"{name:<10} {n:>5} {value(chg, 'energy', '.4f'):>9} "
              f"{value(chg, 'volume', '.3f'):>8} {value(single, 'energy', '.4f'):>12} "
              f"{value(relaxed, 'energy', '.4f'):>10} {value(relaxed, 'volume', '.3f'):>10} "
              f"{diff('energy', name, 0):>8} {diff('energy', name, 1):>12} "
              f"{diff('energy', name, 2):>10}{note}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = ELEMENT_SETTINGS["B"]
    parser.add_argument("--ecut", type=float, default=default.ecut, help="cutoff [eV]")
    parser.add_argument("--kspacing", type=float, default=default.kspacing,
                        help="k-point spacing [1/Å, 2π included]")
    parser.add_argument("--structures", nargs="+", default=list(NAMES), choices=NAMES)
    parser.add_argument("--relax", action="store_true", help="PBE relaxations too")
    parser.add_argument("--pbe-fmax", type=float, default=0.02, help="[eV/Å]")
    parser.add_argument("--pbe-steps", type=int, default=15)
    parser.add_argument("--pbe-minutes", type=float, default=None,
                        help="stop each PBE relaxation after the step that passes this")
    parser.add_argument("--chgnet-fmax", type=float, default=0.005, help="[eV/Å]")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/out/boron-ordering.json"))
    parser.add_argument("--logs", type=Path, default=Path("benchmarks/out/boron-ordering-logs"),
                        help="folder for GPAW's logs")
    args = parser.parse_args(argv)
    # CHGNet converts each frame to pymatgen, which drops ASE's FixSymmetry (harmlessly:
    # the constraint acts in ASE) and says so at every step.
    warnings.filterwarnings("ignore", message="Only FixAtoms and FixCartesian")
    args.logs.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()}: 2-core AMD EPYC VM, shared; Python {platform.python_version()}, "
          + ", ".join(f"{p} {version(p)}" for p in ("gpaw", "ase", "chgnet", "torch")))
    print("command: nice -n 5 python benchmarks/boron_ordering.py "
          + " ".join(argv if argv is not None else sys.argv[1:]))
    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    cache.setdefault("chgnet", {})
    pbe_cache = cache.setdefault(key(args), {"single": {}, "relax": {}})

    def save():
        args.cache.write_text(json.dumps(cache, indent=1))

    start = starting_structures()
    for name in args.structures:
        if name not in cache["chgnet"]:
            cache["chgnet"][name] = chgnet_step(name, start[name], args.chgnet_fmax)
            save()
    for name in args.structures:
        geometry = as_atoms(cache["chgnet"][name], cache["chgnet"][name]["n"])
        if name not in pbe_cache["single"]:
            pbe_cache["single"][name] = pbe_single(name, geometry, args)
            save()
    if args.relax:
        for name in args.structures:
            geometry = as_atoms(cache["chgnet"][name], cache["chgnet"][name]["n"])
            if name not in pbe_cache["relax"]:
                pbe_cache["relax"][name] = pbe_relax(name, geometry, args)
                save()
    print("\nEach step's record (wall seconds on this machine, measured when it ran):")
    for stage in ("chgnet", "single", "relax"):
        records = cache["chgnet"] if stage == "chgnet" else pbe_cache[stage]
        for name in NAMES:
            if name in records:
                print(f"  {stage:<6} {name:<10} {describe(records[name])}")
    table(cache, args)
    print(f"\nwall time of this call: {time.perf_counter() - begin:.0f} s (cached results "
          f"count their own seconds above)")


if __name__ == "__main__":
    main()
