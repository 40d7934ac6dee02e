"""The training-speed benchmark stays runnable: its graphc worker trains, and its FLOP counts are right."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")


@pytest.fixture(scope="module")
def workloads():
    sys.path.insert(0, BENCH)
    try:
        import workloads as w
        yield w
    finally:
        sys.path.remove(BENCH)


def test_flop_counts_per_step(workloads):
    # forward multiply-adds x2, times 3 (forward, dX, dW), per batch
    w1 = 3 * 2 * (784 * 64 + 64 * 64 + 64 * 10) * 64
    assert workloads.train_flops_per_step("W1") == w1
    # W2: conv 28->26 (1->32), conv 26->24 (32->64), dense 36864->128, dense 128->10; batch 32
    w2 = 2 * (26 * 26 * 32 * 9 + 24 * 24 * 32 * 64 * 9 + 36864 * 128 + 128 * 10) * 3 * 32
    assert workloads.train_flops_per_step("W2") == w2
    assert round(w2 / 1e9, 2) == 2.98
    assert round(workloads.train_flops_per_step("W3") / 1e9, 1) == 11.1


def test_graphc_worker_reports_a_rate():
    script = os.path.join(BENCH, "train_speed.py")
    out = subprocess.run([sys.executable, script, "--frameworks", "graphc", "--workloads", "W1", "--steps", "4",
                          "--reps", "2", "--threads", "1"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("graphc"))
    assert "steps/s" in line and "median of 2" in line, out.stdout
    assert float(line.split()[1]) > 0


def test_step_ab_compares_two_checkouts():
    """The same checkout on both sides: both step graphs build, run and give a ratio near 1."""
    script = os.path.join(BENCH, "step_ab.py")
    out = subprocess.run([sys.executable, script, "--old", ROOT, "--new", ROOT, "--workloads", "W1", "--rounds", "4",
                          "--threads", "1"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("W1: old ") and "new/old" in line, out.stdout
    old_nodes, new_nodes = (int(part.split("(")[1].split()[0]) for part in line.split("ms/step")[1:3])
    assert old_nodes == new_nodes > 0
    assert 0.5 < float(line.split("new/old ")[1].split()[0]) < 2.0
