"""What the benchmark scripts share.

Importing this module pins BLAS and OpenMP to one thread each (``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS``, unless already set), so a script imports it
before numpy::

    import _common  # one BLAS thread: before numpy loads
    import numpy as np

The scripts run as ``python benchmarks/<script>.py`` from the repository root, so this
folder is on ``sys.path`` and ``import _common`` finds it. Beside the pinning:

* :func:`read_run`: a run folder through the package's read-only run object
  (:class:`gapexplore.run.RunReader`: ``.settings``, ``.state``, ``.store``,
  ``.potential``; ranked with ``gapexplore.run.results.rank_run``); no script reads or
  writes a run's files itself;
* :func:`dask_client`: a local Dask cluster, as ``gapexplore run --dask-workers`` starts it
  or with Dask's own worker environment;
* :func:`known_matches`: which structures are which known structure (pymatgen's
  ``StructureMatcher``);
* :func:`from_tests`: a module of ``tests/`` by its file, for a script that measures what
  a test checks.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

#: The repository's root.
ROOT = Path(__file__).resolve().parents[1]


def read_run(folder):
    """The run in ``folder``, read-only (:class:`gapexplore.run.RunReader`); None when the
    folder holds no run (no ``settings.json``)."""
    from gapexplore.core.errors import InvalidParameterError
    from gapexplore.run import RunReader

    try:
        return RunReader(folder)
    except InvalidParameterError:
        return None


@contextlib.contextmanager
def dask_client(workers: int, *, dask_environment: bool = False):
    """A local Dask cluster of ``workers`` single-threaded worker processes, and its client.

    As ``gapexplore run --dask-workers`` starts it
    (:func:`gapexplore.core.parallel.local_dask_cluster`), or with ``dask_environment`` a
    plain ``LocalCluster`` with Dask's own worker environment
    (``MALLOC_TRIM_THRESHOLD_=65536``). Dask's nanny sets that variable in this process too;
    it is removed again on the way out when it was not set before.
    """
    import logging

    from dask.distributed import Client, LocalCluster

    from gapexplore.core.parallel import local_dask_cluster

    kept = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    if dask_environment:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        cluster, client = local_dask_cluster(workers)
    try:
        with cluster, client:
            yield client
    finally:
        if kept is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)


def _matcher():
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(scale=True, attempt_supercell=True)


def _pmg(atoms):
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_structure(atoms)


def _primitive_count(atoms, symprec: float = 0.1) -> int:
    import spglib

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    found = spglib.standardize_cell(cell, to_primitive=True, symprec=symprec)
    return len(atoms) if found is None else len(found[2])


def known_matches(minima, known: dict) -> dict:
    """Which minima are which known structure: name -> list of positions in ``minima``.

    A minimum matches when its primitive cell has the known structure's atom count and
    ``StructureMatcher`` (volume scaled, supercells tried) maps one onto the other.
    """
    matcher = _matcher()
    counts = [_primitive_count(m) for m in minima]
    out = {}
    for name, atoms in known.items():
        target, n = _pmg(atoms), _primitive_count(atoms)
        out[name] = [i for i, (m, c) in enumerate(zip(minima, counts))
                     if c == n and matcher.fit(_pmg(m), target)]
    return out


def from_tests(name: str):
    """The module ``tests/<name>.py``, loaded from its file (``sys.path`` untouched)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
