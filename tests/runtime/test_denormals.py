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
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
        assert not [w for w in caught if "denormal" in str(w.message)], [str(w.message) for w in caught]
        print((tiny * np.float32(1.0))[0])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) == 0.0  # the thread now flushes denormals


def run_fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_fit_and_apply_gradients_warn_when_an_earlier_session_left_denormals_on():
    """A session without the flag, created first, decides for the process: graphc cannot turn it on
    any more, so fit (and a custom loop's apply_gradients) say so, once per thread."""
    out = run_fresh("""
        import warnings
        import numpy as np
        import onnxruntime as ort
        from onnx import TensorProto, helper
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "users",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model_bytes = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        ort.InferenceSession(model_bytes.SerializeToString(), providers=["CPUExecutionProvider"])  # the user's own
        import graphc as keras
        from graphc import layers
        inputs = keras.Input((3,))
        model = keras.Model(inputs, layers.Dense(2)(inputs))
        model.compile(optimizer="rmsprop", loss="mse")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), epochs=2, verbose=0)
            opt = keras.optimizers.Adam()
            opt.apply_gradients([(np.ones((3, 2), np.float32), model.trainable_variables[0])])
        found = [str(w.message) for w in caught if "denormal" in str(w.message)]
        print(len(found)); print(found[0])
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    count, message = out.stdout.strip().split("\n", 1)
    assert count == "1"  # once per thread, not per step or per session
    assert "session.set_denormal_as_zero" in message and "several-fold" in message


def test_the_check_is_silent_off_the_cpu():
    import warnings

    from runtime.providers import _DENORMALS_CHECKED, warn_if_denormals_computed

    before = set(_DENORMALS_CHECKED)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_denormals_computed("cuda")
    assert _DENORMALS_CHECKED == before  # no probe session was made
