"""Denormals: onnxruntime sets flush-to-zero / denormals-as-zero on the calling thread once per
process, from the first session created. graphc's one-thread steps run every kernel on that thread,
and optimizer moments that decay into denormals made a W1 step ~2.4x slower, so every graphc
session asks for it, whichever is first (here the NCHWc probe, a bare helper session)."""
import subprocess
import sys
import textwrap

from runtime.providers import session_options


def test_every_graphc_session_sets_denormals_as_zero():
    for device in ("cpu", "cuda"):
        assert session_options(device).get_session_config_entry("session.set_denormal_as_zero") == "1"


def test_the_first_session_of_a_process_turns_it_on_for_the_calling_thread():
    code = textwrap.dedent("""
        import numpy as np
        tiny = np.array([1e-39], np.float32)
        assert (tiny * np.float32(1.0))[0] != 0  # denormals are computed before any session
        from runtime.providers import nchwc_block_size
        nchwc_block_size()  # the process's first onnxruntime session
        import graphc as keras
        from graphc import layers
        inputs = keras.Input((3,))
        model = keras.Model(inputs, layers.Dense(2)(inputs))
        model.compile(optimizer="rmsprop", loss="mse")
        model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
        print((tiny * np.float32(1.0))[0])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) == 0.0  # the thread now flushes denormals
