"""Shared fixtures: a small experiment (as a dict, the experiment file's schema) and the command
built beside the package, for the tests that compare the two."""
import copy
import os
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Depth 3, a 3x3 target of rank 2, two initialization scales and three seeds: saddle-to-saddle
# escapes in well under a second, with a record grid, events and saved endpoints.
SMALL = {
    "name": "small",
    "problem": {"loss": "matrix_approximation", "target": {"generate": "diagonal", "values": [2.0, 1.0], "size": 3}},
    "network": {"parametrization": "deep", "depth": 3, "width": 3},
    "initialization": {"kind": "gaussian", "alpha": 1e-2, "scale_on": "end_to_end"},
    "integrator": {"method": "dopri5", "rtol": 1e-9, "atol": 1e-30},
    "stop": {"t_final": 300.0},
    "record": {"grid": "log", "t_first": 1e-2, "count": 12, "save_states": "endpoints", "critical_points": True},
    "events": [
        {"name": "escape1", "kind": "singular_value", "index": 1, "level": 1.0, "crossing": "up"},
        {"name": "escape2", "kind": "singular_value", "index": 2, "level": 0.5, "crossing": "up"},
    ],
    "sweep": {"seeds": 3, "seed": 7, "axes": {"initialization.alpha": [1e-2, 1e-3]}},
    "run": {"chunk_size": 2},
}


@pytest.fixture
def small():
    return copy.deepcopy(SMALL)


@pytest.fixture(scope="session")
def cli():
    """The dlnflow command of this checkout (DLNFLOW_BIN, or build/dlnflow as scripts/test.sh builds it)."""
    path = os.environ.get("DLNFLOW_BIN") or os.path.join(ROOT, "build", "dlnflow")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        path = shutil.which("dlnflow") or path
    if not os.path.isfile(path):
        pytest.fail(f"no dlnflow command at {path}: build it (scripts/test.sh) or set DLNFLOW_BIN")
    return path
