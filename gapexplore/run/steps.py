"""The five steps of an iteration, as :class:`Explorer` runs them: each reads its input from
the run folder, calls the step's function (:mod:`gapexplore.generate`, :mod:`gapexplore.relax`,
:mod:`gapexplore.select`, :mod:`gapexplore.label`, :mod:`gapexplore.fit`), writes its result
there and records its facts, holding the folder's lock."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from gapexplore.core import keys
from gapexplore.core.checks import fail
from gapexplore.core.chemistry import reduced_formula
from gapexplore.core.symmetry import achiral
from gapexplore.describe import averaged_soap
from gapexplore.fit import fit_gap, load_potential
from gapexplore.generate import cells_across, dimers, initial_cells, isolated_atom, random_cells
from gapexplore.label import label_structures
from gapexplore.relax import (
    converged_finals,
    lowest_final,
    lowest_kinds,
    relax_structures,
    status_kind,
)
from gapexplore.run.facts import FitFacts, Validation
from gapexplore.run.store import write_csv
from gapexplore.select import select_structures
from gapexplore.validate import (
    known_structure,
    lowest_label_above,
    prediction_error,
    validate,
)

__all__ = ["STEPS", "Steps"]

#: The steps of an iteration, in order (iteration 0 has no relaxation).
STEPS = ("generate", "relax", "select", "label", "fit")


def _locked(step):
    """Run a step of the Explorer holding its run folder (see :meth:`RunStore.lock`)."""
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        with self._holding():
            self._started = time.perf_counter()
            return step(self, *args, **kwargs)
    return wrapper


#: The uid and file (``iter_NNN/lowest_checked.xyz``) of the reference's calculation on
#: the GAP's lowest minimum of an iteration: a check, and a training label only with
#: ``ExploreSettings.label_lowest``.
_LOWEST_UID = "i{:03d}-lowest"
#: The database's selection SOAP vectors by label uid, in the run folder.
_DATABASE_SOAP = "database_soap.npz"
_LOWEST_CHECKED = "lowest_checked"


def checked_lowest(checked: Atoms) -> dict:
    """The reference's figures for the GAP's lowest minimum of an iteration, from its
    reference calculation ``checked`` (a final relaxation frame, labelled): the reference's
    energy and enthalpy per atom at the GAP's geometry and pressure [eV/atom], and the GAP's
    energy per atom; or the reason the calculation failed."""
    n = len(checked)
    gap = checked.info[keys.GAP_ENERGY] / n
    if keys.LABEL_ERROR in checked.info or keys.REF_ENERGY not in checked.info:
        return {"gap_energy_per_atom": gap,
                "reference_status": str(checked.info.get(keys.LABEL_ERROR, "failed"))}
    reference = checked.info[keys.REF_ENERGY] / n
    return {"gap_energy_per_atom": gap, "reference_energy_per_atom": reference,
            "reference_enthalpy_per_atom":
                checked.info[keys.ENTHALPY_PER_ATOM] + reference - gap,
            "reference_status": "ok"}


def _same_frame(a: Atoms, b: Atoms) -> bool:
    """Whether two relaxation frames are one: the same relaxation and step."""
    return all(a.info.get(k) is not None and a.info.get(k) == b.info.get(k)
               for k in (keys.RELAX_ID, keys.RELAX_STEP))


class Steps:
    """The steps of :class:`~gapexplore.run.Explorer` (a mixin: it needs the Explorer's
    store, settings, chemistry, reference, executor and step bookkeeping)."""

    def _check_order(self, step: str) -> None:
        steps = self.steps()
        missing = [s for s in steps[:steps.index(step)] if s not in self.state.done]
        if missing:
            raise fail("step", f"Explorer.{step}", f"run after {', '.join(missing)} in "
                       f"iteration {self.iteration}", step)

    @_locked
    def generate(self) -> list[Atoms]:
        """Random cells of this iteration (iteration 0: half wide, half narrow range)."""
        self._check_order("generate")
        record = self._record()
        rng = self._rng("generate")
        n = record.n_candidates
        atoms = self.settings.n_atoms
        compositions = self.settings.compositions()
        if len(compositions) > 1:    # a run across compositions: a share for each
            cells = cells_across(compositions, n, rng=rng, initial=self.iteration == 0,
                                 n_atoms=atoms, n_jobs=self.n_jobs, executor=self.executor)
        elif self.iteration == 0:
            cells = initial_cells(self.chemistry, n, rng=rng, n_atoms=atoms, n_jobs=self.n_jobs,
                                  executor=self.executor)
        else:
            cells = random_cells(self.chemistry, n, rng=rng, n_atoms=atoms, n_jobs=self.n_jobs,
                                 executor=self.executor)
        self.store.write_structures(self.iteration, "candidates", cells)
        self._done("generate", candidates=len(cells))
        return cells

    @_locked
    def relax(self) -> list[Atoms]:
        """Relax this iteration's candidates with the previous GAP; all frames, flat. Each
        task's trajectories are kept as it finishes: a run interrupted here continues from
        them."""
        self._check_order("relax")
        cells = self.store.read_structures(self.iteration, "candidates")
        # A relaxation stops where atoms come closer than the reference computes: frames
        # beyond would be chosen (a GAP hole has low enthalpy) and then refused; stopping
        # there makes the frames at the limit the ones chosen, whose labels teach repulsion.
        limit = self.reference.min_distance(Atoms(list(self.chemistry.elements)))
        settings = self.settings.relax_settings()
        settings = dataclasses.replace(settings, min_distance_factor=max(
            settings.min_distance_factor, limit / self.chemistry.smallest_radius))
        trajectories = relax_structures(cells, self.potential, chemistry=self.chemistry,
                                         rng=self._rng("relax"), settings=settings,
                                         executor=self.executor, n_jobs=self.n_jobs,
                                         progress=self.progress,
                                         timeout=self.settings.relax_timeout,
                                         done=self.store.kept_relaxations(self.iteration),
                                         on_relaxed=functools.partial(
                                             self.store.keep_relaxations, self.iteration))
        frames = [frame for trajectory in trajectories for frame in trajectory]
        self.store.write_structures(self.iteration, "trajectories", frames)
        self.store.write_structures(self.iteration, "minima", converged_finals(trajectories))
        statuses = [status_kind(t[-1].info[keys.RELAX_STATUS]) for t in trajectories]
        self._done("relax", frames=len(frames),
                   relaxations={s: statuses.count(s) for s in sorted(set(statuses))},
                   lowest=lowest_final(trajectories))
        self.store.drop_kept_relaxations(self.iteration)
        return frames

    @_locked
    def select(self) -> list[Atoms]:
        """Choose this iteration's structures to label (flat histogram, then the
        method of the settings' ``selection``: kernel CUR by default)."""
        self._check_order("select")
        record = self._record()
        soap = self.settings.soap_settings()
        if self.iteration == 0:
            pool, kT, database = self.store.read_structures(0, "candidates"), None, []
        else:
            frames = self.store.read_structures(self.iteration, "trajectories")
            pool = [f for f in frames if keys.ENTHALPY_PER_ATOM in f.info]
            kT = record.kT
            database = [a for a in self.store.labels() if a.pbc.all()]
        n = min(record.n_select, len(pool))
        s = self.settings.selection
        # uncertainty needs a GAP: iteration 0 (random cells, no GAP yet) chooses by CUR
        uncertain = s.method == "uncertainty" and self.iteration > 0
        method = "kernel_cur" if s.method == "uncertainty" and not uncertain \
            else s.method
        species = sorted(self.chemistry.elements, key=atomic_numbers.get)
        vectors = self._database_vectors(database, soap, species) \
            if method not in ("random", "uncertainty") else None
        selection = select_structures(pool, n, rng=self._rng("select"), kT=kT,
                                      n_histogram=None if s.n_histogram is None
                                      else max(s.n_histogram, n), soap=soap,
                                      database=database, method=method,
                                      stochastic=s.stochastic, center=s.center,
                                      potential=self.potential if uncertain else None,
                                      database_vectors=vectors, species=species, n_jobs=1)
        chosen = selection.structures
        for rank, atoms in enumerate(chosen):
            atoms.info[keys.UID] = f"i{self.iteration:03d}-s{rank:04d}"
        self.store.write_structures(self.iteration, "selected", chosen)
        facts = {}
        if uncertain and chosen:    # the GAP's own doubt about what it chose: a signal
            facts["selected_predicted_error"] = float(np.nanmean(
                [a.info[keys.SELECT_PREDICTED_ERROR] for a in chosen]))
        self._done("select", selected=len(chosen), **facts)
        return chosen

    def _database_vectors(self, database: list[Atoms], soap, species: list[str]):
        """The averaged SOAP vectors of the labelled ``database``, kept in the run folder by
        label uid (``database_soap.npz``) so that each is computed once; a file of other
        SOAP settings or species, or a damaged one, is computed anew. None for no database."""
        if not database:
            return None
        path = self.store.root / _DATABASE_SOAP
        key = json.dumps({"soap": dataclasses.asdict(soap), "species": species}, sort_keys=True)
        known = {}
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["key"]) == key:
                    known = dict(zip(stored["uids"].tolist(), stored["vectors"]))
        except (OSError, KeyError, ValueError):
            known = {}
        missing = [a for a in database if a.info[keys.UID] not in known]
        if missing:
            fresh = averaged_soap(missing, soap, species=species)
            known.update(zip([a.info[keys.UID] for a in missing], fresh))
            uids = sorted(known)
            temporary = path.with_suffix(".tmp.npz")
            np.savez(temporary, key=np.array(key), uids=np.array(uids),
                     vectors=np.array([known[u] for u in uids]))
            os.replace(temporary, path)
        return np.array([known[a.info[keys.UID]] for a in database])

    @_locked
    def label(self) -> list[Atoms]:
        """Label the selected structures (iteration 0 adds dimers and the isolated atom);
        each result is stored as it arrives, and stored ones are not computed again."""
        self._check_order("label")
        selected = self.store.read_structures(self.iteration, "selected")
        todo = selected
        if self.iteration == 0:
            atoms = isolated_atom(self.chemistry)   # one per element for a compound
            extras = (atoms if isinstance(atoms, list) else [atoms]) + dimers(self.chemistry)
            for j, atoms in enumerate(extras):
                atoms.info[keys.UID] = f"i000-x{j:03d}"
            todo = todo + extras
        stored = self.store.labelled_uids()
        todo = [a for a in todo if a.info[keys.UID] not in stored]
        iteration = self.iteration
        lowest_uid = _LOWEST_UID.format(iteration)
        named = self._record().lowest
        # the trajectories, read once, for the lowest minimum and the next kinds
        relaxations = (self.store.relaxations(iteration)
                       if named and named.relax_id is not None else [])
        lowest = self._lowest_to_check(relaxations)
        # the selection chose the lowest minimum itself: its label is the check
        twin = None if lowest is None else next(
            (a for a in selected if _same_frame(a, lowest)), None)
        trained = self.settings.label_lowest and lowest is not None and twin is None
        # the lowest minima of the next kinds of structure: labels only, each computed once
        kinds = [k for k in self._lowest_kinds(lowest, relaxations)
                 if not any(_same_frame(a, k) for a in selected)]
        todo += [k for k in kinds if k.info[keys.UID] not in stored]
        check_from = None   # the uid of a stored label that is the check, copied below
        if lowest is not None and not self._lowest_checked_path().exists():
            if twin is not None:
                check_from = twin.info[keys.UID]
            elif lowest_uid in stored:    # labelled before an interruption: not again
                check_from = lowest_uid
            else:   # checked in the same pass as the labels
                todo.append(lowest)

        def keep(atoms):
            if atoms.info[keys.UID] != lowest_uid or trained:
                self.store.add_labels([atoms], iteration)
            if atoms.info[keys.UID] == lowest_uid:   # after the label: none is lost
                self.store.write_structures(iteration, _LOWEST_CHECKED, [atoms])

        labelled = label_structures(
            todo, self.reference, executor=self.executor, n_jobs=self.n_jobs,
            progress=self.progress, timeout=self._reference_timeout(), on_label=keep,
            isolate=True)
        if not trained:
            labelled = [a for a in labelled if a.info[keys.UID] != lowest_uid]
        rows = self.store.labels(ok_only=False, iteration=iteration)  # resumed ones too
        if check_from is not None:
            [check] = [a.copy() for a in rows if a.info[keys.UID] == check_from]
            check.info[keys.UID] = lowest_uid
            self.store.write_structures(iteration, _LOWEST_CHECKED, [check])
        failed = sum(keys.LABEL_ERROR in a.info for a in rows)
        facts = {}
        if iteration > 0:   # the previous GAP on what its own search found and CUR chose
            own = {lowest_uid} | {k.info[keys.UID] for k in kinds}  # recorded below
            facts["prediction_error"] = prediction_error(
                [a for a in rows if keys.LABEL_ERROR not in a.info
                 and a.info[keys.UID] not in own])
        if lowest is not None:
            checked = self.store.read_structures(iteration, _LOWEST_CHECKED)[0]
            facts["lowest"] = self._record().lowest.checked(checked_lowest(checked))
        if kinds:
            by_uid = {a.info[keys.UID]: a for a in rows}
            facts["lowest_kinds"] = [
                {"uid": uid, "spacegroup": k.info["spacegroup"],
                 "formula": reduced_formula(k),
                 "enthalpy_per_atom": k.info[keys.ENTHALPY_PER_ATOM],
                 **checked_lowest(by_uid[uid])}
                for k in kinds for uid in [k.info[keys.UID]] if uid in by_uid]
        self._done("label", labelled=len(rows) - failed, failed=failed,
                   labels_total=self.n_labels, **facts)
        return labelled

    def _lowest_checked_path(self):
        return self.store.iteration_dir(self.iteration) / f"{_LOWEST_CHECKED}.xyz"

    def _lowest_to_check(self, relaxations: list[list[Atoms]]) -> Atoms | None:
        """The GAP's lowest-enthalpy minimum of this iteration's ``relaxations``
        (:meth:`RunStore.relaxations`): the final frame of the relaxation its ``lowest``
        record names, or None."""
        lowest = self._record().lowest
        if not lowest or lowest.relax_id is None:
            return None
        finals = {frames[-1].info.get(keys.RELAX_ID): frames[-1] for frames in relaxations}
        final = finals.get(lowest.relax_id)
        if final is None:
            return None
        final.info[keys.UID] = _LOWEST_UID.format(self.iteration)
        return final

    def _lowest_kinds(self, lowest: Atoms | None,
                      relaxations: list[list[Atoms]]) -> list[Atoms]:
        """The lowest minima of ``relaxations`` (this iteration's) of the next kinds of
        structure after the lowest one's (``ExploreSettings.lowest_kinds`` - 1 of them,
        fewer where fewer kinds converged; :func:`gapexplore.relax.lowest_kinds`), with
        uids ``iNNN-lowest1``, …; none without ``label_lowest`` or a lowest minimum."""
        count = self.settings.lowest_kinds
        if lowest is None or not self.settings.label_lowest or count < 2:
            return []
        # the lowest's own kind left out (it is normally the first of them)
        own = (reduced_formula(lowest), achiral(str(self._record().lowest.spacegroup)))
        found = [k for k in lowest_kinds(relaxations, count)
                 if (reduced_formula(k), achiral(k.info["spacegroup"])) != own][:count - 1]
        for rank, atoms in enumerate(found, start=1):
            atoms.info[keys.UID] = f"{_LOWEST_UID.format(self.iteration)}{rank}"
        return found

    def _reference_timeout(self) -> float | None:
        """The wall-time limit of one reference calculation [s]: the settings', else the
        reference's own default."""
        if self.settings.reference_timeout is not None:
            return self.settings.reference_timeout
        return self.reference.timeout

    @_locked
    def fit(self):
        """Fit GAP_k to every label in the database; returns the FitResult."""
        self._check_order("fit")
        gap = self.settings.gap_settings()
        workdir = self.store.iteration_dir(self.iteration) / "gap"
        labels = self.store.labels()
        result = fit_gap(labels, self.chemistry, workdir, settings=gap, gap_fit=self.gap_fit)
        facts, carved = {"fit": FitFacts.from_dict(result.summary())}, {}
        validating = bool(self.settings.validate or self.store.read_known())
        if validating:  # timed apart: with a DFT reference it relaxes with the reference
            start = time.perf_counter()
            facts["validation"] = self._validate(result.potential, labels)
            carved["validate"] = time.perf_counter() - start
        self._done("fit", carved=carved, **facts)
        if validating:
            write_csv(self.store.root / "validation.csv", self.state.validation_rows())
        return result

    def _validate(self, potential, labels: list[Atoms]) -> Validation:
        structures = {n: known_structure(self.chemistry, n)
                      for n in self.settings.validate}
        structures |= self.store.read_known()
        calculator = self.reference.calculator()
        cached = self.state.reference_energies
        result = validate(structures, load_potential(potential), calculator,
                          chemistry=self.chemistry, reference_energies=cached)
        cached.update({n: result[n]["reference"] for n in structures})
        above = lowest_label_above(structures, cached, labels)
        for name, value in above.items():
            result[name]["lowest_label_above"] = value
        return Validation.from_dict(result)
