"""The paper's four systems: their committed settings and their report script."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from gapexplore.cli import main
from gapexplore.run import ExploreSettings
from gapexplore.run.settings import GAP_PRESETS
from gapexplore.validate import known_structure

ROOT = Path(__file__).parents[1]
PAPER = ROOT / "benchmarks" / "paper"


def _report():
    """benchmarks/paper_report.py as a module, with benchmarks/ importable as
    ``python benchmarks/paper_report.py`` has it (for its ``_common``)."""
    path = ROOT / "benchmarks" / "paper_report.py"
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location("paper_report", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["paper_report"] = module
    spec.loader.exec_module(module)
    return module


def _common():
    """benchmarks/_common.py, the benchmarks' shared helpers (after :func:`_report`)."""
    _report()
    return sys.modules["_common"]


@pytest.mark.parametrize("folder", [PAPER, PAPER / "scale"])
def test_the_four_settings_files_are_the_papers_systems_at_its_cell_sizes(folder):
    """The four systems as first run, and toward the paper's scale: Table 1's GAP, 100
    labels an iteration, at least 1,000 native relaxations an iteration."""
    files = sorted(folder.glob("*.toml"))
    settings = {f.stem: ExploreSettings.from_toml(f.read_text()) for f in files}
    assert {s.element for s in settings.values()} == {"B", "C", "Si", "Ti"}
    if folder.name == "scale":
        assert all(s.gap_settings() == GAP_PRESETS["paper"](s.chemistry())
                   and s.selection.n_select == 100 and s.n_candidates
                   >= 1000 and s.relax_settings().engine == "native"
                   for name, s in settings.items() if not name.endswith("-no-virials"))
        # a run continued past this machine's memory: the same run, its later fits
        # without virials (the one change of its fit a continued run may make)
        for name in [n for n in settings if n.endswith("-no-virials")]:
            base = name.removesuffix("-no-virials")
            assert settings[base].fixed_changes(settings[name]) == []
            assert settings[name].gap_settings().virials is False
    expected = {"B": {"alpha-B12"}, "C": {"diamond", "lonsdaleite", "graphite"},
                "Si": {"diamond", "beta-tin", "oS24"}, "Ti": {"hcp", "omega"}}
    for s in settings.values():
        assert s.n_atoms == (6, 24) and s.reference == "chgnet"
        assert s.selection.soap == "paper" and s.relax_fmax == 0.01   # the paper's
        assert expected[s.element] <= set(s.validate)
        assert s.n_initial >= 10 * s.selection.n_select    # iteration 0 chooses from many
        for name in s.validate:                            # each one builds
            assert len(known_structure(s.element, name)) <= 24


def test_minima_are_named_by_the_known_structure_they_are():
    _report()
    known = {n: known_structure("Si", n) for n in ("diamond", "beta-tin", "oS24")}
    diamond = bulk("Si", "diamond", a=5.6).repeat((2, 1, 1))   # scaled, a supercell
    diamond.rattle(0.01, seed=1)
    diamond.positions = diamond.positions[::-1].copy()         # atoms in another order
    squeezed = known_structure("Si", "beta-tin")
    squeezed.set_cell(squeezed.cell[:] * 0.97, scale_atoms=True)
    hexagonal = bulk("Si", "hcp", a=2.72, c=4.44)               # none of them
    matches = _common().known_matches([diamond, squeezed, hexagonal, known["oS24"]], known)
    assert matches == {"diamond": [0], "beta-tin": [1], "oS24": [3]}


def test_alpha_boron_is_all_icosahedra_and_diamond_none():
    report = _report()
    assert report.icosahedral_fraction(known_structure("B", "alpha-B12")) == 1.0
    assert report.icosahedral_fraction(bulk("Si", "diamond", a=5.43)) == 0.0
    assert report.icosahedral_fraction(bulk("Cu", "fcc", a=3.6)) == 0.0   # 12 neighbours too


@pytest.mark.slow
def test_a_paper_settings_file_runs_and_its_report_prints(tmp_path, capsys):
    """si.toml with a toy reference and a tiny budget (flags override the file), then the
    report: tables, the held-out phases after every fit, the Fig. 4 scatter, E–V curves
    and the Fig. 5 map; the run folder untouched."""
    folder = tmp_path / "si"
    assert main(["run", str(folder), "--config", str(PAPER / "si.toml"), "--reference",
                 "sw-si", "--initial", "16", "--candidates", "8", "--select", "4",
                 "--iterations", "2", "--atoms", "4", "8", "--soap", "fast", "--fmax", "0.1",
                 "--max-steps", "40", "--optimiser", "precon-lbfgs", "--jobs", "1",
                 "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "report"
    before = {f: f.read_bytes() for f in folder.rglob("*") if f.is_file()}
    assert _report().main([str(folder), "--out", str(out), "--map-max", "40"]) == 0
    printed = capsys.readouterr().out
    assert {f: f.read_bytes() for f in folder.rglob("*") if f.is_file()} == before
    table = (out / "report.md").read_text()
    held = table.split("### Held-out phases (never validated on, never trained on)")[1]
    held = held.split("| iteration | labels | hexagonal-diamond | sc | fcc | hcp |")[1]
    rows = held.strip().split("\n\n")[0].splitlines()[1:]
    assert [row.split("|")[1:3] for row in rows] == [[" 0 ", " 26 "], [" 1 ", " 30 "]]
    errors = [float(cell) for row in rows for cell in row.split("|")[3:7]]
    assert len(errors) == 8 and np.isfinite(errors).all()
    assert "| iteration | labels | diamond | beta-tin | oS24 | simple-hexagonal | bc8 |" in table
    assert "| 0 | 26 |" in table and "| 1 | 30 |" in table   # 4 cells + atom + 21 dimers
    assert "beta-tin - diamond" in table and "labels against the GAP of iteration 0" in table
    lowest = table.split("Lowest reference energy among each iteration's labels")[1]
    assert "| 0 |" in lowest and "| 1 |" in lowest and "above diamond" in lowest
    rows = [line for line in table.splitlines() if line.startswith("| oS24 |")]
    assert len(rows) == 2    # its found/learnt row and its E–V row
    for name in ("Si_energy_energy.png", "Si_energy_volume.png", "structure_map.html"):
        assert (out / name).stat().st_size > 1000, name
    assert "structure map" in printed
    ev = [line for line in table.splitlines() if line.startswith("| diamond |")][-1]
    v0 = [float(x) for x in ev.split("|")[2].split("/")]
    # the reference's column is SW diamond's own 20.02 Å³/atom; the GAP's, after 30 labels,
    # is only a fitted minimum inside the curve's range (volumes 0.88–1.12 × 20.02)
    assert v0[1] == pytest.approx(20.02, abs=0.05)
    assert 20.02 * 0.88 < v0[0] < 20.02 * 1.12
