import numpy as np
import pytest

import graphc
from runtime.providers import warn_if_denormals_computed

# The process's first onnxruntime session decides denormal handling for the main thread (see
# runtime.providers.session_options). Tests make sessions of their own (plain onnxruntime, without
# graphc's options), so one of graphc's comes first here, as README advises users; the probe is one.
warn_if_denormals_computed("cpu")


@pytest.fixture(autouse=True)
def _fresh_session():
    """Every test starts with fresh layer names (dense, dense_1, ...) and a fixed seed."""
    graphc.clear_session()
    graphc.set_random_seed(1234)
    np.random.seed(1234)
    yield
