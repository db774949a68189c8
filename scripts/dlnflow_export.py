#!/usr/bin/env python3
"""The recorded time series of a dlnflow results folder in long format (called by
`dlnflow export DIR`): one CSV row per sweep point, trajectory and record time, which pandas reads
in one call (pandas.read_csv). Columns: point, one per swept key, seed, trajectory (as in
summary.csv), time, loss, grad_norm, balance_defect, rank, sigma1 .. sigma<r> (the spectrum,
empty beyond a point's own r), and critical_distance, critical_nearest with
record.critical_points. Rows after a trajectory stopped are left out (they hold no values).
"""
import argparse
import csv
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    sys.exit(f"dlnflow export: {e}; install with: python3 -m pip install numpy h5py")


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def fmt(x):
    """The shortest text that reads back to the same double, as summary.csv writes numbers."""
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if x != x:
        return "nan"
    return repr(x)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--out", help="CSV file (default: <results>/timeseries.csv); - for standard output")
    args = p.parse_args()
    path = os.path.join(args.results, "trajectories.h5")
    if not os.path.exists(path):
        print(f"dlnflow export: {path} not found", file=sys.stderr)
        return 2
    out = args.out or os.path.join(args.results, "timeseries.csv")
    with h5py.File(path, "r") as f:
        axes = [text(a) for a in f.attrs["axes"]]
        seeds = None
        groups = [(int(k), f["points"][k]) for k in sorted(f["points"].keys(), key=int)]
        r = max([g["spectrum"].shape[2] for _, g in groups if "spectrum" in g] or [0])
        critical = any("critical_points" in g for _, g in groups)
        header = ["point", *axes, "seed", "trajectory", "time", "loss", "grad_norm", "balance_defect", "rank"]
        header += [f"sigma{i + 1}" for i in range(r)]
        if critical:
            header += ["critical_distance", "critical_nearest"]
        fh = sys.stdout if out == "-" else open(out + ".tmp" if out != "-" else out, "w", newline="")
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for index, g in groups:
            coords = [fmt(g.attrs[a]) if not isinstance(g.attrs[a], (str, bytes)) else text(g.attrs[a]) for a in axes]
            t = g["time"][:]
            seed, traj = g["seed"][:], g["trajectory"][:]
            loss, grad, bal, rank = g["loss"][:], g["grad_norm"][:], g["balance_defect"][:], g["rank"][:]
            spec = g["spectrum"][:]
            if critical and "critical_points" in g:
                dist, near = g["critical_points/distance"][:], g["critical_points/nearest"][:]
            for s in range(len(seed)):
                for k in range(len(t)):
                    if rank[s, k] == -1:  # the trajectory had stopped: nothing recorded
                        continue
                    row = [str(index), *coords, str(seed[s]), str(traj[s]), fmt(t[k]), fmt(loss[s, k]), fmt(grad[s, k]),
                           fmt(bal[s, k]), str(rank[s, k])]
                    row += [fmt(x) for x in spec[s, k]] + [""] * (r - spec.shape[2])
                    if critical:
                        row += [fmt(dist[s, k]), str(near[s, k])] if "critical_points" in g else ["", ""]
                    w.writerow(row)
        if out != "-":
            fh.close()
            os.replace(out + ".tmp", out)  # whole or not at all
    if out != "-":
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
