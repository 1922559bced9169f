"""References that misbehave on purpose, importable by worker processes and by
``gapexplore run --reference faulty_references:NAME`` (with this folder on PYTHONPATH).

Each computes Stillinger–Weber silicon; ``counting_sw`` logs every calculation (a hash of
the structure) to the file named by ``$FAULTY_LOG``, after ``$FAULTY_DELAY`` seconds.
"""

import hashlib
import os
import time

from ase.calculators.calculator import Calculator, all_changes

from gapexplore.label import reference_calculator


def structure_hash(atoms) -> str:
    data = atoms.numbers.tobytes() + atoms.cell[:].round(8).tobytes() \
        + atoms.positions.round(8).tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


class _SW(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, fault=None):
        super().__init__()
        self.sw, self.fault = reference_calculator("sw-si"), fault

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.fault is not None:
            self.fault(self.atoms)
        self.sw.calculate(self.atoms, ["energy", "forces", "stress"], system_changes)
        self.results = dict(self.sw.results)
        self.results["free_energy"] = self.results["energy"]   # asked for by cell filters


def _log(atoms):
    time.sleep(float(os.environ.get("FAULTY_DELAY", "0")))
    with open(os.environ["FAULTY_LOG"], "a") as handle:
        handle.write(structure_hash(atoms) + "\n")


def counting_sw():
    """SW that logs each calculation when it ends."""
    return _SW(_log)


def _crash_or_hang(atoms):
    if len(atoms) == 1:
        os._exit(3)  # a segfault or an MPI abort: the process is gone
    if len(atoms) == 2 and atoms.get_distance(0, 1) > 4.9:
        time.sleep(600)  # an SCF that never ends


def crashing_sw():
    """SW that kills its process on one-atom cells and hangs on dimers longer than 4.9 Å."""
    return _SW(_crash_or_hang)


def _log_then_crash(atoms):
    _log(atoms)
    if len(atoms) == 1:
        os._exit(3)


def counting_crashing_sw():
    """SW that logs each calculation as it starts and kills its process on one-atom cells."""
    return _SW(_log_then_crash)
