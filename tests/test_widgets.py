"""The notebook widgets and bokeh figures, driven from Python (the browser test drives them
from a real browser)."""

import numpy as np
import pytest
from ase.build import bulk

from gapexplore import InvalidParameterError
from gapexplore.analysis import structure_map
from gapexplore.run import Explorer, ExploreSettings
from gapexplore.widgets import (
    Dashboard,
    IterationControls,
    ResultsTable,
    StructureInspector,
    StructureMap,
    describe,
    plots,
)


@pytest.fixture(scope="module")
def crystals():
    out = [bulk("Si", "diamond", a=5.43), bulk("Si", "fcc", a=3.9), bulk("Si", "bcc", a=3.1),
           bulk("Si", "sc", a=2.5)]
    for n, atoms in enumerate(out):
        atoms.info["uid"] = f"x{n}"
    return out


def test_describe_reports_what_a_structure_is(crystals):
    facts = describe(crystals[0])
    assert facts["space group"] == "Fd-3m (227)"
    assert facts["volume"] == f"{5.43 ** 3 / 8:.2f} Å³/atom"
    assert facts["id"] == "x0"


def test_the_inspector_shows_one_structure_at_a_time_with_its_cell(crystals):
    inspector = StructureInspector(crystals, title="test")
    assert len(inspector.view._ngl_component_ids) == 1
    assert "Fd-3m" in inspector.facts.value
    inspector.next.click()
    assert inspector.index.value == 1 and "Fm-3m" in inspector.facts.value
    assert len(inspector.view._ngl_component_ids) == 1
    inspector.previous.click()
    inspector.previous.click()  # wraps around
    assert inspector.index.value == 3 and "Pm-3m" in inspector.facts.value
    inspector.set_structures([])
    assert inspector.view._ngl_component_ids == [] and "nothing" in inspector.facts.value


def test_picking_points_on_the_map_shows_those_structures(crystals):
    linked = StructureInspector()
    view = StructureMap(crystals, inspector=linked)
    view.source.selected.indices = [2, 3]
    assert linked.structures == [crystals[2], crystals[3]]
    assert "2 picked" in linked.title.value


def test_choosing_a_row_of_the_results_table_shows_that_structure(crystals):
    from gapexplore import keys, reference_calculator
    from gapexplore.run.results import distinct_structures

    minima = []
    for atoms in crystals:
        atoms = atoms.copy()
        atoms.calc = reference_calculator("sw-si")
        atoms.info[keys.GAP_ENERGY] = atoms.get_potential_energy()
        atoms.calc = None
        minima.append(atoms)
    found = distinct_structures(minima)
    found[1].reference = -4.25
    table = ResultsTable(found)
    assert len(table.rows.options) == len(found) == 4
    assert table.inspector.index.value == 0 and "Fd-3m" in table.inspector.facts.value
    table.show(2)      # rank 2: the second lowest by energy
    assert table.inspector.index.value == 1
    assert found[1].spacegroup.split()[0] in table.inspector.facts.value
    assert "-4.2500 eV/atom" in table.inspector.facts.value    # its reference energy
    assert "rank 2" in table.inspector.facts.value
    label = table.rows.options[1][0].replace("\u00a0", " ")
    assert label.split()[:2] == ["2", found[1].spacegroup.split()[0]]
    table.set_results([])
    assert table.rows.options == () and "nothing" in table.inspector.facts.value


def test_figures_are_standalone_html_without_a_cdn(tmp_path, crystals):
    data = structure_map(crystals)
    rows = [{"iteration": i, "labels": 30 + 10 * i, "structure": s, "error": e}
            for i, (s, e) in enumerate([("diamond", 0.1), ("diamond", -0.01),
                                        ("beta-tin", 0.2), ("beta-tin", float("nan"))])]
    figures = {"map": plots.structure_map_figure(data, marker_by="iteration"),
               "curves": plots.learning_curve_figure(rows),
               "empty": plots.learning_curve_figure([]),
               "ee": plots.energy_energy_figure({"reference": np.arange(3.0),
                                                 "gap": np.arange(3.0) + 0.01, "rmse": 0.01}),
               "ev": plots.energy_volume_figure({"volume_per_atom": np.arange(3.0),
                                                 "GAP": np.ones(3), "reference": np.ones(3)})}
    curve = figures["curves"].select_one({"name": "curve-diamond"}).data_source.data
    assert list(curve["labels"]) == [30, 40] and curve["error"] == pytest.approx([100, -10])
    nan_dropped = figures["curves"].select_one({"name": "curve-beta-tin"}).data_source.data
    assert list(nan_dropped["labels"]) == [50]
    for name, fig in figures.items():
        text = plots.save_html(fig, tmp_path / f"{name}.html").read_text()
        assert "cdn.bokeh.org" not in text and "Bokeh" in text
    with pytest.raises(Exception, match="marker_by"):
        plots.structure_map_figure(data, marker_by="colour")


def test_controls_refuse_impossible_values_before_running_anything(tmp_path):
    settings = ExploreSettings(element="Si", n_candidates=8, n_select=4, gap="light",
                               soap="fast", max_iterations=1)
    explorer = Explorer(tmp_path / "run", settings, n_jobs=1)
    controls = IterationControls(explorer)
    assert "iteration 0" in controls.status.value and controls.kT.value == 0.3
    controls.n_select.value = 9
    assert controls.run_next() is None
    assert "cannot exceed" in controls.status.value
    assert explorer.state.done == [] and not (tmp_path / "run" / "iter_000").exists()
    assert explorer.run(iterations=0).state.done == []
    with pytest.raises(InvalidParameterError, match="iterations"):
        explorer.run(iterations=-1)


@pytest.mark.slow
def test_the_controls_set_what_the_next_iteration_uses(tmp_path):
    settings = ExploreSettings(element="Si", n_candidates=8, n_atoms=(4, 8), n_select=4,
                               gap="light", soap="fast", relax_fmax=0.1, relax_max_steps=20,
                               relax={"optimiser": "precon-lbfgs"},  # FIRE starts short
                               max_iterations=2, seed=1, validate=("diamond",))
    explorer = Explorer(tmp_path / "run", settings, n_jobs=2)
    dashboard = Dashboard(explorer)
    controls = dashboard.controls
    controls.n_select.value = 3
    first = controls.run_next()
    assert first.n_select == 3 and first.selected == 3 and first.kT is None
    assert "Iteration 0 finished" in controls.status.value
    assert controls.kT.value == 0.3  # the schedule's value for iteration 1
    assert len(dashboard.inspector.structures) == 3
    assert dashboard.curves.figure.select_one({"name": "curve-diamond"}) is not None
    controls.kT.value = 0.25
    controls.n_candidates.value = 6
    second = controls.run_next()
    assert (second.kT, second.n_candidates, second.n_select) == (0.25, 6, 3)
    assert second.candidates == 6
    assert len(dashboard.map.data.structures) == 6  # the periodic labels of both iterations
    # the minima found so far, ranked; choosing one shows it in the dashboard's inspector
    found = dashboard.results.found
    assert found and dashboard.results_box.children
    assert "Labelled in iteration 1" in dashboard.inspector.title.value   # not taken over
    dashboard.results.show(1)
    assert "Ranked structures" in dashboard.inspector.title.value
    assert found[0].spacegroup.split()[0] in dashboard.inspector.facts.value
    assert explorer.potential_of(0) == tmp_path / "run" / "iter_000" / "gap" / "gap.xml"
    assert explorer.potential_of(1) == explorer.potential and explorer.potential_of(2) is None
    assert controls.run_next() is None and "finished" in controls.status.value
    # the same run read-only, from its folder: no controls, the same minima, nothing written
    folder = tmp_path / "run"
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    viewer = Dashboard(folder, structure_map=False)
    assert viewer.controls is None
    assert not any(isinstance(c, IterationControls) for c in viewer.children)
    assert [(f.energy, f.spacegroup) for f in viewer.results.found] \
        == [(f.energy, f.spacegroup) for f in dashboard.results.found]
    viewer.refresh()
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before
    with pytest.raises(InvalidParameterError, match="Dashboard"):
        Dashboard(tmp_path)


def test_the_convex_hull_of_a_binary_database_by_reference_and_potential():
    from gapexplore import keys, reference_calculator
    from gapexplore.analysis import formation_energies
    from gapexplore.widgets import ConvexHullView

    tersoff = reference_calculator("tersoff-sic")
    structures = [bulk("Si", "diamond", a=5.43), bulk("SiC", "zincblende", a=4.36),
                  bulk("SiC", "rocksalt", a=4.02), bulk("C", "diamond", a=3.567),
                  bulk("Si", "fcc", a=3.9)]
    for n, atoms in enumerate(structures):
        atoms.calc = tersoff
        atoms.info[keys.REF_ENERGY] = atoms.get_potential_energy()
        atoms.info["uid"] = f"h{n}"
        atoms.calc = None
    per_atom = [a.info[keys.REF_ENERGY] / len(a) for a in structures]
    data = formation_energies(structures, potential=tersoff)   # the reference as "GAP"
    assert data.elements == ("C", "Si") and data.x.tolist() == [1.0, 0.5, 0.5, 0.0, 1.0]
    # zincblende's formation energy from the elements; both ends on the hull at 0
    assert data.reference[1] == pytest.approx(per_atom[1] - (per_atom[0] + per_atom[3]) / 2)
    assert data.reference[[0, 3]] == pytest.approx([0.0, 0.0])
    assert data.reference_above_hull[[0, 1, 3]] == pytest.approx([0.0, 0.0, 0.0])
    assert data.reference_above_hull[2] == pytest.approx(per_atom[2] - per_atom[1])
    assert data.reference_above_hull[4] == pytest.approx(per_atom[4] - per_atom[0])
    assert data.gap == pytest.approx(data.reference)
    assert data.gap_above_hull == pytest.approx(data.reference_above_hull)
    linked = StructureInspector()
    view = ConvexHullView(structures, potential=tersoff, inspector=linked)
    assert len(view.source.data["x"]) == 5
    view.source.selected.indices = [1, 2]
    assert linked.structures == [structures[1], structures[2]]
    assert "2 picked on the hull" in linked.title.value
    assert "off the plot" not in view.figure.title.text     # every point shown
    # a collapsed cell of an early GAP, labelled at 245 eV/atom, is not allowed to
    # squash the hull into one line: the range keeps the bulk, the title counts the rest
    collapsed = bulk("C", "diamond", a=3.567)
    collapsed.set_cell(collapsed.cell * 0.6, scale_atoms=True)
    collapsed.info[keys.REF_ENERGY] = 245.0 * len(collapsed)
    wide = plots.hull_figure(formation_energies(structures + [collapsed], potential=tersoff))
    assert wide.y_range.end < 50 and wide.y_range.start < -0.3     # 245 left out
    assert "(2 off the plot" in wide.title.text             # reference and "GAP"
    titanium = bulk("Ti", "hcp", a=2.95)
    titanium.info[keys.REF_ENERGY] = -15.0
    aluminium = bulk("Al", "fcc", a=4.05)
    aluminium.info[keys.REF_ENERGY] = -3.7
    with pytest.raises(InvalidParameterError, match="two or three elements"):
        formation_energies(structures[:2] + [titanium, aluminium])
    with pytest.raises(InvalidParameterError, match="two compositions"):
        formation_energies(structures[1:3])


def _lower_hull_by_brute_force(fractions, energies):
    """Height of each point above the lowest convex combination of points at its
    composition (single points, pairs on a line through it, triangles around it): an
    oracle independent of scipy's hull."""
    import itertools

    f, e = np.asarray(fractions)[:, 1:], np.asarray(energies)
    heights = []
    for target, energy in zip(f, e):
        best = np.inf
        for size in (1, 2, 3):
            for combo in itertools.combinations(range(len(f)), size):
                a = np.vstack([f[list(combo)].T, np.ones(size)])     # barycentric weights
                b = np.append(target, 1.0)
                w = np.linalg.lstsq(a, b, rcond=None)[0]
                if np.allclose(a @ w, b, atol=1e-9) and np.all(w >= -1e-9):
                    best = min(best, float(w @ e[list(combo)]))
        heights.append(energy - best)
    return np.array(heights)


def test_the_convex_hull_of_a_ternary_database_on_the_composition_triangle():
    from ase import Atoms
    from ase.calculators.emt import EMT

    from gapexplore import keys
    from gapexplore.analysis import formation_energies
    from gapexplore.widgets import ConvexHullView

    def fcc4(symbols, a0):   # the 4 sites of the cubic fcc cell (L1_2 for A3B)
        return Atoms(symbols, scaled_positions=[[0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
                                                [0, 0, 0]], cell=[a0] * 3, pbc=True)

    structures = [bulk("Cu", "fcc", a=3.61), bulk("Au", "fcc", a=4.08),
                  bulk("Ni", "fcc", a=3.52), bulk("Cu", "fcc", a=3.80),
                  fcc4("Cu3Au", 3.75), fcc4("Au3Cu", 3.98), fcc4("Ni3Au", 3.70),
                  fcc4("CuNiCuAu", 3.70), fcc4("NiAuNiCu", 3.68)]
    emt = EMT()
    for n, atoms in enumerate(structures):
        atoms.calc = emt
        atoms.info[keys.REF_ENERGY] = atoms.get_potential_energy()
        atoms.info["uid"] = f"t{n}"
        atoms.calc = None
    per_atom = np.array([a.info[keys.REF_ENERGY] / len(a) for a in structures])
    data = formation_energies(structures, potential=EMT())     # the reference as "GAP"
    assert data.elements == ("Au", "Cu", "Ni")
    assert data.fractions[4].tolist() == [0.25, 0.75, 0.0]
    assert data.x.tolist() == data.fractions[:, 1].tolist()
    # formation energies from the plane through the elements' own lowest energies
    assert data.reference[:3] == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    assert data.reference[3] == pytest.approx(per_atom[3] - per_atom[0])
    assert data.reference[7] == pytest.approx(
        per_atom[7] - (0.25 * per_atom[1] + 0.5 * per_atom[0] + 0.25 * per_atom[2]))
    expected = _lower_hull_by_brute_force(data.fractions, per_atom)
    assert data.reference_above_hull == pytest.approx(expected, abs=1e-9)
    assert 0 < np.count_nonzero(expected > 1e-6) < len(expected)   # some on, some above
    assert data.gap_above_hull == pytest.approx(data.reference_above_hull)

    layout = plots.hull_figure(data)
    reference, gap = (layout.select_one({"name": n}) for n in ("hull", "gap"))
    assert reference.data_source is gap.data_source              # one selection for both
    columns = reference.data_source.data
    assert (columns["tx"][1], columns["ty"][1]) == pytest.approx((0.0, 0.0))    # Au
    assert (columns["tx"][0], columns["ty"][0]) == pytest.approx((1.0, 0.0))    # Cu
    assert (columns["tx"][2], columns["ty"][2]) == pytest.approx((0.5, np.sqrt(3) / 2))
    on = {(round(x, 9), round(y, 9)) for x, y, h in
          zip(columns["tx"], columns["ty"], data.reference_above_hull) if h < 1e-9}
    corners = np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]])
    segments = plots._ternary_tie_lines(data.fractions, data.reference_above_hull,
                                        data.reference, corners)
    ends = {(round(x, 9), round(y, 9)) for segment in segments for x, y in segment}
    assert ends == on                   # tie lines join exactly the compositions on the hull
    linked = StructureInspector()
    view = ConvexHullView(structures, potential=emt, inspector=linked)
    view.source.selected.indices = [4, 7]
    assert linked.structures == [structures[4], structures[7]]
    no_nickel = [a for a in structures if a.get_chemical_formula() != "Ni"]
    with pytest.raises(InvalidParameterError, match="each element alone"):
        formation_energies(no_nickel)
