import subprocess
import sys

import numpy as np
from ase.io import read

from gapexplore import keys
from gapexplore.cli import main


def test_demo_writes_a_readable_run(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["demo", "--candidates", "16", "--select", "4", "--soap", "fast",
                 "--out", str(out)])
    assert code == 0
    candidates = read(out / "candidates.xyz", index=":")
    selected = read(out / "selected.xyz", index=":")
    extras = read(out / "dimers_and_atom.xyz", index=":")
    assert len(candidates) == 16 and len(selected) == 4 and len(extras) == 22
    sources = [a.info[keys.SELECT_SOURCE_INDEX] for a in selected]
    assert len(set(sources)) == 4
    for atoms, i in zip(selected, sources):
        assert np.allclose(atoms.positions, candidates[i].positions)
    assert "selected 4 by kernel_cur" in capsys.readouterr().out


def test_demo_reports_bad_input_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gapexplore", "demo", "--element", "Qq",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "The 'element' parameter of Chemistry.of must be" in result.stderr
    assert "Traceback" not in result.stderr
