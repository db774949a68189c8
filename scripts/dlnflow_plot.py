#!/usr/bin/env python3
"""Figures of a dlnflow results folder (called by `dlnflow plot DIR`).

Writes into DIR/plots (or --out):
  loss.png             loss vs time, log axes: median and 10-90% band per sweep point
  singular_values.png  median singular values of W vs time, one panel per sweep point
  event_times.png      histograms of every event (escape) time, per sweep point
  sweep.png            final loss, final rank and median event times against the first swept key
"""
import argparse
import os
import sys
import warnings

try:
    import h5py
    import numpy as np
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as e:  # the command maps this to its own message and exit code 3
    sys.exit(f"dlnflow plot: {e}; install with: python3 -m pip install numpy h5py matplotlib")


def label(attrs, axes):
    parts = []
    for a in axes:
        v = attrs[a]
        parts.append(f"{a.split('.')[-1]}={v:g}" if isinstance(v, (float, np.floating)) else f"{a.split('.')[-1]}={v}")
    return ", ".join(parts) or "all"


def positive(x):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, np.nan)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--out")
    args = p.parse_args()
    path = os.path.join(args.results, "trajectories.h5")
    if not os.path.exists(path):
        print(f"dlnflow plot: {path} not found", file=sys.stderr)
        return 2
    out = args.out or os.path.join(args.results, "plots")
    os.makedirs(out, exist_ok=True)
    with h5py.File(path, "r") as f:
        axes = [a.decode() if isinstance(a, bytes) else a for a in f.attrs["axes"]]
        points = sorted(f["points"].keys(), key=int)
        groups = [f["points"][k] for k in points if len(f["points"][k]["seed"]) > 0]
        if not groups:
            print("dlnflow plot: no finished trajectories to plot", file=sys.stderr)
            return 2
        data = []
        for g in groups:
            names = [n.decode() if isinstance(n, bytes) else n for n in g["events"].attrs["names"]]
            data.append(dict(label=label(g.attrs, axes), attrs=dict(g.attrs), t=g["time"][:], loss=g["loss"][:],
                             spectrum=g["spectrum"][:], events=g["events/times"][:], names=names,
                             final_loss=g["final_loss"][:], final_rank=g["final_rank"][:]))
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: diverged or unfinished points
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(data)))
    written = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for d, c in zip(data, colors):
        t = positive(d["t"])
        loss = positive(d["loss"])
        if not (np.isfinite(loss) & np.isfinite(t)).any():
            continue  # every trajectory of this point diverged before the first record time
        med = np.nanmedian(loss, axis=0)
        lo, hi = np.nanquantile(loss, 0.1, axis=0), np.nanquantile(loss, 0.9, axis=0)
        ax.plot(t, med, color=c, label=d["label"])
        ax.fill_between(t, lo, hi, color=c, alpha=0.25, linewidth=0)
    ax.set(xscale="log", yscale="log", xlabel="time t", ylabel="loss", title="loss: median and 10-90% band")
    ax.legend(fontsize="small")
    fig.tight_layout()
    written.append(os.path.join(out, "loss.png"))
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    shown = data[:12]
    cols = min(3, len(shown))
    rows = (len(shown) + cols - 1) // cols
    fig, axs = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for a, d in zip(axs.flat, shown):
        med = np.nanmedian(positive(d["spectrum"]), axis=0)
        for i in range(med.shape[1]):
            a.plot(positive(d["t"]), med[:, i], label=f"sigma{i + 1}")
        a.set(title=d["label"], xlabel="t")
        if (np.isfinite(med) & np.isfinite(positive(d["t"]))[:, None]).any():
            a.set(xscale="log", yscale="log")
        else:
            a.text(0.5, 0.5, "no finite values\n(diverged)", ha="center", va="center", transform=a.transAxes)
    for a in list(axs.flat)[len(shown):]:
        a.axis("off")
    axs.flat[0].legend(fontsize="x-small")
    fig.suptitle("singular values of W (median over seeds)")
    fig.tight_layout()
    written.append(os.path.join(out, "singular_values.png"))
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    names = data[0]["names"]
    if names:
        fig, axs = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
        for e, a in enumerate(axs.flat):
            for d, c in zip(data, colors):
                v = d["events"][:, e]
                v = v[np.isfinite(v)]
                if len(v):
                    a.hist(v, bins=20, color=c, alpha=0.6, label=d["label"])
            a.set(title=f"t_{names[e]}", xlabel="time", ylabel="trajectories")
        axs.flat[0].legend(fontsize="x-small")
        fig.tight_layout()
        written.append(os.path.join(out, "event_times.png"))
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    numeric = [a for a in axes if isinstance(data[0]["attrs"].get(a), (float, int, np.floating, np.integer))]
    if numeric:
        key = numeric[0]
        x = np.array([float(d["attrs"][key]) for d in data])
        logx = np.all(x > 0) and x.max() / x.min() > 100
        panels = [("final loss (median)", [np.nanmedian(d["final_loss"]) for d in data], True),
                  ("final rank (median)", [np.median(d["final_rank"]) for d in data], False)]
        for e, n in enumerate(names):
            panels.append((f"t_{n} (median)", [np.nanmedian(d["events"][:, e]) if np.isfinite(d["events"][:, e]).any()
                                               else np.nan for d in data], False))
        fig, axs = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
        for a, (title, y, logy) in zip(axs.flat, panels):
            y = np.asarray(y, dtype=float)
            a.plot(x, y, "o")
            logy = logy and (y > 0).any()
            a.set(title=title, xlabel=key, xscale="log" if logx else "linear", yscale="log" if logy else "linear")
        fig.tight_layout()
        written.append(os.path.join(out, "sweep.png"))
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    for w in written:
        print(w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
