"""Smoke test of the learning benchmark: its smallest setting runs and reports finite numbers."""

import csv
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _bench(monkeypatch):
    path = Path(__file__).parents[1] / "benchmarks" / "bench_learning.py"
    monkeypatch.syspath_prepend(str(path.parent))   # as `python benchmarks/...` has it
    spec = importlib.util.spec_from_file_location("bench_learning", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_learning"] = module   # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_smallest_learning_comparison(tmp_path, capsys, monkeypatch):
    bench = _bench(monkeypatch)
    out = bench.main(["--size", "small", "--reference", "kumagai-si", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    # 2 methods x 1 seed x 2 iterations x 4 known structures
    rows = list(csv.DictReader(open(out["csv"])))
    assert len(rows) == 2 * 1 * 2 * 4
    assert {r["method"] for r in rows} == {"kernel_cur", "random"}
    assert {r["structure"] for r in rows} == {"diamond", "beta-tin", "simple-hexagonal", "bc8"}
    assert np.isfinite([float(r[k]) for r in rows for k in ("gap", "reference_energy",
                                                             "error", "labels")]).all()
    # same budget of reference evaluations for both methods in each iteration
    for iteration in ("0", "1"):
        assert len({r["labels"] for r in rows if r["iteration"] == iteration}) == 1
    assert np.isfinite([d["gap"] for d in out["differences"]]).all()
    assert "mean of all" in printed and "first fell below 10 meV/atom" in printed
    # paper Fig. 2, bottom: each iteration's lowest label above diamond, per run
    lowest = list(csv.DictReader(open(out["csv"].parent / f"{out['csv'].stem}_lowest_labels.csv")))
    assert len(lowest) == 2 * 1 * 2 and np.isfinite([float(r["error"]) for r in lowest]).all()
    assert "lowest reference energy among each iteration's labels above diamond" in printed
    assert "beta-tin - diamond" in printed
    assert "paired by seed against random" in printed
    assert re.search(r"new labels, energy RMSE.*\n.*\n +kernel_cur +\d+\.\d", printed)
    assert re.search(r"kernel_cur +[+-]\d+ [01]/1 p[01]\.\d\d", printed)  # one seed, one pair
    assert sorted(Path(p).suffix for p in out["plots"]) == [".html", ".png"]
    assert all(Path(p).stat().st_size > 0 for p in out["plots"])
    # E–V curves of each final GAP and the reference: 2 runs x 4 structures x 9 volumes
    ev = out["energy_volume"]
    assert len(ev) == 2 * 4 * 9
    assert np.isfinite([r[k] for r in ev for k in ("gap", "reference_energy")]).all()
    for structure in ("diamond", "beta-tin"):   # the reference's minimum is at V0 (ratio 1)
        curve = [r["reference_energy"] for r in ev
                 if r["structure"] == structure and r["method"] == "random"]
        assert int(np.argmin(curve)) == 4
    assert "energy–volume curves, RMS" in printed
    # the held-out phases: every GAP of every run, never validated on by any run
    held = list(csv.DictReader(open(Path(tmp_path) / "learning_small_kumagai-si_held_out.csv")))
    assert {r["structure"] for r in held} == {"hexagonal-diamond", "sc", "fcc", "hcp"}
    assert len(held) == 2 * 1 * 2 * 4 and not {r["structure"] for r in held} & {
        r["structure"] for r in rows}
    assert np.isfinite([float(r["error"]) for r in held]).all()
    assert "relaxed held-out (never validated on) structures" in printed
    # a second call reads the finished runs back instead of repeating them
    states = {p: p.stat().st_mtime_ns for p in Path(tmp_path).rglob("state.json")}
    again = bench.main(["--size", "small", "--reference", "kumagai-si", "--out", str(tmp_path)])
    assert states and {p: p.stat().st_mtime_ns for p in states} == states  # nothing rerun
    assert again["rows"] == out["rows"]
