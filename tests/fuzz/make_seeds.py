#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (scripts/fuzz.sh): the repository's experiment
files and .npy data as they are, plus hand-made .npy and .csv files that reach the readers'
branches (every dtype, both orders, header versions, comments, odd number syntax).

usage: make_seeds.py REPO OUT   (writes OUT/fuzz_experiment, OUT/fuzz_npy, OUT/fuzz_csv)
"""
import io
import shutil
import sys
from pathlib import Path

import numpy as np


# Small valid experiments for the branches the examples leave out: every loss, generator,
# parametrization, initialization and record grid, ranges in [sweep]. Each passes `dlnflow check`
# from examples/greedy-low-rank (where the fuzzer runs them).
STOP = "\n[stop]\nt_final = 1.0\n"
TOML_SEEDS = {
    "sensing": """[problem]
loss = "sensing"
target = { generate = "low_rank", size = 3, spectrum = [2.0, 1.0], seed = 1 }
A = { generate = "gaussian", count = 12, seed = 2, symmetric = true, scale = 0.5 }
[network]
depth = 3
[initialization]
kind = "identity"
alpha = 1e-2
scale_on = "factors"
[integrator]
method = "rk4"
dt = 0.01
[record]
grid = "uniform"
count = 5
""" + STOP,
    "regression": """[problem]
loss = "regression"
X = { generate = "gaussian", rows = 3, cols = 5, seed = 4 }
Y = { generate = "gaussian", rows = 2, cols = 5, scale = 2.0 }
[network]
widths = [3, 4, 2]
[initialization]
alpha = 1e-3
[record]
grid = "list"
times = [0.0, 0.5, 1.0]
[[events]]
kind = "loss"
level = 0.1
crossing = "down"
terminal = true
""" + STOP,
    "autoencoder-end-to-end": """[problem]
loss = "autoencoder"
X = [[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]
[network]
parametrization = "end_to_end"
depth = 3
rank_cap = 1
[initialization]
kind = "gaussian"
alpha = 1e-2
[integrator]
method = "euler"
dt = 1e-3
max_steps = 100
""" + STOP,
    "bures-wasserstein": """[problem]
loss = "bures_wasserstein"
sigma0 = { generate = "random_covariance", size = 3, spectrum = [2.0, 0.5], seed = 5 }
tau = 0.1
[network]
depth = 2
width = 3
input = 2
[initialization]
alpha = 1e-2
[record]
critical_points = true
save_states = "endpoints"
[[events]]
kind = "singular_value"
index = 2
level = 0.5
""" + STOP,
    "completion-symmetric": """[problem]
loss = "completion"
target = { generate = "low_rank", size = 4, spectrum = [3.0], symmetric = true, frames = "identity" }
mask = { generate = "bernoulli_mask", p = 0.7, seed = 3, diagonal = false }
[network]
parametrization = "symmetric"
k = 2
[initialization]
alpha = 1e-3
""" + STOP,
    "completion-files": """[problem]
loss = "completion"
target = "target.npy"
mask = "mask.npy"
[network]
parametrization = "symmetric"
k = 3
[initialization]
alpha = 1e-3
[sweep]
seeds = 2
axes."network.k" = { from = 1, to = 3, step = 2 }
""" + STOP,
    "balanced-init": """[problem]
loss = "matrix_approximation"
target = { generate = "diagonal", values = [3.0, 1.0], rows = 2, cols = 3 }
[network]
depth = 2
[initialization]
kind = "balanced"
W0 = [[0.1, 0.0, 0.0], [0.0, 0.1, 0.0]]
random_frames = true
[integrator]
dt_initial = 1e-3
dt_min = 1e-12
dt_max = 0.5
rtol = 1e-6
atol = 1e-9
""" + STOP,
    "critical-point-init": """[problem]
loss = "matrix_approximation"
target = { generate = "identity", size = 2, scale = 2.0 }
[network]
depth = 2
[initialization]
kind = "critical_point"
index = 1
epsilon = 1e-3
[record]
critical_points = true
[stop]
t_final = 1.0
loss_below = 1e-8
grad_norm_below = 1e-9
grad_min_time = 0.1
blowup_norm = 1e10
""",
    "user-init": """[problem]
loss = "matrix_approximation"
target = [[1.0, 0.0], [0.0, 2.0]]
[network]
widths = [2, 1, 2]
[initialization]
kind = "user"
W1 = [[0.1, 0.2]]
W2 = [[0.3], [0.4]]
[sweep]
axes.stop.t_final = { from = 0.5, to = 2.0, count = 3, spacing = "log" }
axes."record.count" = [3, 4]
[run]
chunk_size = 2
""" + STOP,
}


def npy_bytes(array, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=False)
    return buf.getvalue()


def main():
    repo, out = Path(sys.argv[1]), Path(sys.argv[2])
    dirs = {t: out / t for t in ("fuzz_experiment", "fuzz_npy", "fuzz_csv")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)

    def put(target, name, data):
        (dirs[target] / name).write_bytes(data if isinstance(data, bytes) else data.encode())

    tomls = sorted(repo.glob("examples/**/*.toml")) + [repo / "tests/cli/sweep.toml"]
    for p in tomls:
        put("fuzz_experiment", "seed-" + str(p.relative_to(repo)).replace("/", "-"), p.read_bytes())
    for p in sorted(repo.glob("examples/**/*.npy")):
        put("fuzz_npy", "seed-" + str(p.relative_to(repo)).replace("/", "-"), p.read_bytes())

    for name, text in TOML_SEEDS.items():
        put("fuzz_experiment", f"seed-{name}.toml", text)

    m = np.arange(6, dtype=np.float64).reshape(2, 3) - 2.5
    npys = {
        "f8-c": m,
        "f8-fortran": np.asfortranarray(m),
        "f4": m.astype(np.float32),
        "i8": m.astype(np.int64),
        "i4-fortran": np.asfortranarray(m.astype(np.int32)),
        "u1": np.array([[0, 1, 255]], dtype=np.uint8),
        "bool": np.array([[True, False], [False, True]]),
        "3d": np.arange(24, dtype=np.float64).reshape(2, 3, 4),
        "3d-fortran": np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)),
        "1d": np.array([1.0, -2.0, 3.0]),
        "0d": np.array(7.0),
        "empty": np.zeros((0, 3)),
        "big-endian": m.astype(">f8"),
        "f2-unsupported": m.astype(np.float16),
    }
    for name, a in npys.items():
        put("fuzz_npy", f"seed-{name}.npy", npy_bytes(a))
    put("fuzz_npy", "seed-v2.npy", npy_bytes(m, version=(2, 0)))
    put("fuzz_npy", "seed-v3.npy", npy_bytes(m, version=(3, 0)))
    # Python 2 era headers wrote long integers with an L suffix.
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    put("fuzz_npy", "seed-py2-long.npy",
        b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + m.tobytes())

    csvs = {
        "plain": "1,2,3\n4,5,6\n",
        "comments-spaces": "# header\n  1.5 , -2e-3\n\n# more\n3,\t4\n",
        "crlf": "1,2\r\n3,4\r\n",
        "no-final-newline": "1,2\n3,4",
        "single": "42\n",
        "exponents": "1e308,1e-308,5e-324\n-0,+1,.5\n",
        "hex-nan-inf": "0x1p3,nan,inf\n-inf,NaN,Infinity\n",
        "column": "1\n2\n3\n",
        "trailing-comma": "1,2,\n3,4,\n",
    }
    for name, text in csvs.items():
        put("fuzz_csv", f"seed-{name}.csv", text)


if __name__ == "__main__":
    main()
