import numpy as np
import pytest

import graphc


@pytest.fixture(autouse=True)
def _fresh_session():
    """Every test starts with fresh layer names (dense, dense_1, ...) and a fixed seed."""
    graphc.clear_session()
    graphc.set_random_seed(1234)
    np.random.seed(1234)
    yield
