"""What the integration tests of the dlnflow command share: running the built binary as a user
does, reading results folders, comparing them exactly, and a unittest main whose exit code tells
ctest "skipped" (77) when every selected test skipped."""
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    import h5py
    import numpy as np
except ImportError as e:  # a missing test dependency must fail loudly, never skip quietly
    sys.exit(f"the tests of the command need numpy and h5py ({e}); scripts/install-deps.sh --test installs them")

BIN = os.environ["DLNFLOW_BIN"]
SRC = os.environ["DLNFLOW_SOURCE_DIR"]


# A small valid experiment the tests vary: a 2 x 2 target, depth 2, RK4 to t = 1.
BASE = """name = "base"
[problem]
loss = "matrix_approximation"
target = [[3.0, 0.0], [0.0, 1.0]]
[network]
depth = 2
[initialization]
alpha = 1e-3
[integrator]
method = "rk4"
dt = 0.01
[stop]
t_final = 1.0
"""


def dlnflow(*args, **kw):
    return subprocess.run([BIN, *args], capture_output=True, text=True, **kw)


def gpu_present():
    """Whether `dlnflow info` finds a usable GPU (then --backend auto runs there)."""
    for line in dlnflow("info").stdout.splitlines():
        if line.startswith("GPU devices: "):
            return int(line.split()[2]) > 0
    return False


def read_summary(folder):
    with open(os.path.join(folder, "summary.csv"), newline="") as f:
        return list(csv.DictReader(f))


def assert_same_bytes(test, a, b, names=("summary.csv", "trajectories.h5")):
    """The data files of two results folders, byte for byte."""
    for name in names:
        with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
            test.assertEqual(fa.read(), fb.read(), f"{name} differs byte for byte")


def h5_contents(path):
    """Every dataset and attribute of an HDF5 file, keyed by path, for exact comparison."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            for k, v in obj.attrs.items():
                out[f"{name}@{k}"] = v
        f.visititems(visit)
        for k, v in f.attrs.items():
            out[f"@{k}"] = v
    return out


def assert_same_h5(test, a, b, skip_attrs=()):
    ca, cb = h5_contents(a), h5_contents(b)
    test.assertEqual(sorted(ca), sorted(cb))
    for k in ca:
        if k.split("@")[-1] in skip_attrs:
            continue
        va, vb = np.asarray(ca[k]), np.asarray(cb[k])
        if va.dtype.kind == "f":
            test.assertTrue(np.array_equal(va, vb, equal_nan=True), k)
        else:
            test.assertTrue(np.array_equal(va, vb), k)


class Workspace(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dlnflow-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)


def main():
    # Exit 77 (ctest's SKIP_RETURN_CODE) when every selected test skipped, so that a test that
    # needs a GPU or MPI shows as skipped, not passed, where there is none.
    prog = unittest.main(exit=False)
    res = prog.result
    if not res.wasSuccessful():
        sys.exit(1)
    sys.exit(77 if res.testsRun and len(res.skipped) == res.testsRun else 0)
