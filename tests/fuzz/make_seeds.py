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
