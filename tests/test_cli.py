import json
import subprocess
import sys

from gapexplore.cli import main


def test_run_starts_continues_and_guards_its_settings(tmp_path, capsys, caplog):
    folder = tmp_path / "run"
    args = ["run", str(folder), "--candidates", "6", "--select", "3", "--iterations", "1",
            "--gap", "light", "--soap", "fast", "--jobs", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "finished after 1 iteration (--iterations 1 reached)" in out
    assert "iteration 0: selected 3" in out
    assert out.startswith("plan: Si, reference sw-si, GAP model light\n")   # before any step
    lines = out.splitlines()   # each step is announced as it starts, then when it is done
    assert lines.index("iteration 0: generate ...") < lines.index("iteration 0: select ...")
    assert "iteration 1: generate ..." not in lines   # not after the stop criterion
    assert f"next: gapexplore results {folder}" in out
    assert "atomic environments of 1 species" in caplog.text   # the memory model, each fit
    steps = [line.split(":")[1].split()[0] for line in out.splitlines()
             if line.startswith("iteration 0: ") and " done (" in line]
    assert steps == ["generate", "select", "label", "fit"]  # a line per step (Explorer.irun)
    assert (folder / "iter_000" / "gap" / "gap.xml").exists()
    # continuing a finished run does nothing more
    assert main(["run", str(folder), "--quiet"]) == 0
    assert json.loads((folder / "state.json").read_text())["iteration"] == 1
    # a run's settings cannot change under it ...
    assert main(["run", str(folder), "--element", "C", "--quiet"]) == 2
    assert "holds a run with other settings (element)" in capsys.readouterr().err
    # ... and a stop criterion given beside it is not named as the problem
    assert main(["run", str(folder), "--element", "C", "--iterations", "3", "--quiet"]) == 2
    assert "holds a run with other settings (element);" in capsys.readouterr().err
    # ... but its stop criteria can
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["max_iterations"] == 1


def test_bad_input_is_reported_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gapexplore", "run", str(tmp_path / "r"),
                             "--element", "Qq"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "The 'element' parameter of Chemistry.of must be" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "gapexplore", "run", str(tmp_path / "r"),
                             "--gap-fit", "/no/such/gap_fit"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'gap_fit' parameter of Explorer must be a gap_fit command that exists" \
        in result.stderr and not (tmp_path / "r").exists()


def test_status_and_settings_file(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('element = "Si"\nn_candidates = 6\nn_select = 3\nmax_iterations = 1\n'
                      'gap = "light"\nsoap = "fast"\nvalidate = ["diamond", "beta-tin"]\n'
                      'dask_workers = 1\n')
    folder = tmp_path / "run"
    assert main(["run", str(folder), "--config", str(config), "--select", "2", "--quiet",
                 "--jobs", "1"]) == 0
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["n_select"] == 2 and settings["validate"] == ["diamond", "beta-tin"]
    assert "dask_workers" not in settings  # where the work ran is not a setting of the run
    summary = capsys.readouterr().out
    assert "Dask cluster with 1 workers" in summary
    assert main(["status", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "labels (0 failed), finished after 1 iteration" in out and "diamond error" in out
    # status lists the validation structures as the run's summary did: in --validate's
    # order, not in state.json's (sorted) order
    iterations = [line for line in out.splitlines() if line.startswith("  iteration")]
    assert iterations == [line for line in summary.splitlines()
                          if line.startswith("  iteration")]
    assert iterations[-1].index("diamond error") < iterations[-1].index("beta-tin error")
    from gapexplore.run import Explorer

    Explorer(folder, n_jobs=1).generate()     # an iteration begun, not yet fitted
    assert main(["status", str(folder)]) == 0
    begun = capsys.readouterr().out.splitlines()
    assert any(line.startswith("  iteration 1: selected -, labels -, not fitted yet")
               for line in begun), begun
    assert "nan" not in "\n".join(begun)
    config.write_text("colour = 'blue'\n")
    assert main(["run", str(tmp_path / "other"), "--config", str(config)]) == 2
    assert "Unknown settings" in capsys.readouterr().err
    assert main(["status", str(tmp_path / "nothing")]) == 2


def test_a_second_process_is_refused(tmp_path):
    from gapexplore.run.store import RunStore

    store = RunStore(tmp_path / "run")
    with store.lock():
        result = subprocess.run([sys.executable, "-m", "gapexplore", "run",
                                 str(tmp_path / "run"), "--candidates", "4", "--select", "2",
                                 "--quiet"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Another gapexplore process" in result.stderr


def test_selection_and_label_options_reach_the_settings(tmp_path):
    from gapexplore.cli import _parser, _settings

    args = _parser().parse_args(["run", str(tmp_path / "r"), "--selection", "vector_cur",
                                 "--stochastic", "--center"])
    settings = _settings(args)
    selection = settings.selection
    assert (selection.method, selection.stochastic, selection.center) \
        == ("vector_cur", True, True)
    plain = _settings(_parser().parse_args(["run", str(tmp_path / "r")]))
    assert (plain.selection.method, plain.selection.stochastic, plain.selection.center) \
        == ("kernel_cur", False, False)
    lowest = _settings(_parser().parse_args(["run", str(tmp_path / "r"), "--label-lowest",
                                             "--lowest-kinds", "3"]))
    assert (lowest.label_lowest, lowest.lowest_kinds, plain.lowest_kinds) == (True, 3, 1)


def test_the_prediction_error_is_a_stop_criterion_and_is_reported(tmp_path, capsys):
    from gapexplore.cli import _parser, _report, _settings
    from gapexplore.run import Explorer
    from gapexplore.run.state import IterationRecord

    args = _parser().parse_args(["run", str(tmp_path / "r"), "--target-prediction-error",
                                 "0.01"])
    settings = _settings(args)
    assert settings.target_prediction_error == 0.01
    explorer = Explorer(tmp_path / "r", settings)
    explorer.state.iterations = [
        IterationRecord(0, 6, 3, selected=3, labels_total=25),
        IterationRecord(1, 6, 3, selected=3, labels_total=28, prediction_error={
            "n": 3, "rmse": 0.0123, "mae": 0.01, "max": 0.02, "mean": 0.0})]
    _report(explorer)
    out = capsys.readouterr().out
    assert "iteration 0: selected 3, labels 25" in out and "new labels predicted" not in \
        out.splitlines()[1]
    assert "new labels predicted to 12.3 meV/atom RMSE" in out.splitlines()[2]


def test_the_demos_are_valid_runs_with_their_own_folders():
    from gapexplore.cli import DEMOS, _parser
    from gapexplore.run import ExploreSettings

    for values, folder in DEMOS.values():
        settings = ExploreSettings(**values)
        assert settings.validate and folder.name.startswith("demo")
    assert ExploreSettings(**DEMOS["sic"][0]).chemistry().formula == "SiC"
    args = _parser().parse_args(["demo", "--system", "sic"])
    assert args.system == "sic" and args.folder is None


def test_main_leaves_the_python_path_as_it_found_it(tmp_path):
    """The current folder is on the path while a command runs (a reference module beside
    the user), not after it: main may be called from Python."""
    import os
    import sys

    before = list(sys.path), os.environ.get("PYTHONPATH")
    assert main(["status", str(tmp_path / "none")]) == 2
    assert (list(sys.path), os.environ.get("PYTHONPATH")) == before


def test_the_plan_counts_iteration_0s_dimers_with_a_dft_reference():
    """With GPAW the 21 dimers and the isolated atom of iteration 0 are most of a small
    run's cost; the plan says so, and counts one iteration as one."""
    from gapexplore.run import ExploreSettings
    from gapexplore.run.plan import estimate_cost, run_plan

    small = dict(element="Si", n_atoms=(2, 4), n_candidates=4, n_select=2, max_iterations=1,
                 gap="light", soap="fast")
    dft = ExploreSettings(reference="gpaw-low", **small)
    plan = run_plan(dft, 2)
    assert "iteration 0's dimers and isolated atoms 3 min" in plan   # 21 × 2 + 1 atoms × 9 s
    assert "stops at the first of: 2500 labels, 1 iteration\n" in plan
    assert "to the stop (1 iteration): 4 min" in plan
    cost = estimate_cost(dft, 2)
    assert cost.extras == 43 * 9.0 / 2 and cost.total > cost.extras > cost.label
    toy = run_plan(ExploreSettings(**small), 2)
    assert "dimers" not in toy and "(1 iteration): " in toy
