"""Every example runs in quick mode, so the examples can never rot."""
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
SCRIPTS = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py") and not f.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_quick(script, tmp_path):
    env = dict(os.environ, GRAPHC_EXAMPLES_QUICK="1", MPLBACKEND="Agg", HOME=str(tmp_path))
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), "--quick"], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{script} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
