#!/usr/bin/env python3
"""Figures of a dlnflow results folder (called by `dlnflow plot DIR`).

Writes into DIR/plots (or --out), in each --format (png by default; pdf, svg), and with --data
FILE what each figure draws (panel titles, axes, every line's points, texts) as JSON:
  escape           every event time against the swept scale (1/alpha, say) on log-log axes: median
                   and 10-90% bars per point, one series per value of the other swept keys (a
                   legend), the fitted power law (dotted) and the theory's slope 1 - 2/N (dashed)
                   where the depth gives it; against initialization.epsilon from a catalogued
                   saddle, time on a linear axis with t = a + b ln(1/eps) and the catalogue's
                   1/lambda_+ (dashed); "k/n crossed" beside points where some never crossed;
                   with three or more swept keys, a row of panels per value of the last one
                   (4 rows a page: escape.png, escape-2.png, ...)
  loss             loss vs time, log axes: median and 10-90% band per sweep point, and the
                   catalogue's critical values (dashed) when record.critical_points was on
  singular_values  median singular values of W vs time, one panel per sweep point (12 a page:
                   singular_values.png, singular_values-2.png, ...)
  event_times      histograms of every event time on log axes, per sweep point, with the count
                   that never crossed ("0/500 crossed" where none did)
  timeline         with record.critical_points: the saddle-to-saddle timeline of each point, the
                   distance to the nearest catalogued critical point (log) and which one it is
                   (the catalogue's labels) against time, for up to 4 trajectories (12 panels a page)
  sweep            final loss, final rank and median event times against the first swept key
Nothing is dropped silently: every point is drawn, and a panel without data says why.
"""
import argparse
import json
import os
import sys
import warnings

# One thread in this process, so that forking a child per figure is safe (and Python 3.12+ has
# nothing to warn about): BLAS pools would start threads at numpy's import.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

try:
    import h5py
    import numpy as np
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
except ImportError as e:  # the command maps this to its own message and exit code 3
    sys.exit(f"dlnflow plot: {e}; install with: python3 -m pip install numpy h5py matplotlib")

PANELS_PER_PAGE = 12


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def fmt(v):
    return f"{v:g}" if isinstance(v, (float, np.floating)) else f"{v}"


def label(attrs, axes):
    return ", ".join(f"{a.split('.')[-1]}={fmt(attrs[a])}" for a in axes) or "all"


def positive(x):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, np.nan)


def is_scale(values):
    """A swept key whose values are positive numbers over at least two decades (alpha, epsilon)."""
    try:
        x = np.array([float(v) for v in values])
    except (TypeError, ValueError):
        return False
    return bool(np.all(x > 0) and x.max() >= 100 * x.min())


def depth_of(d, axes, manifest_depth):
    attrs = d["attrs"]
    if "network.depth" in axes:
        return int(attrs["network.depth"])
    if "network.widths" in axes:
        return text(attrs["network.widths"]).count(",")
    return manifest_depth


def pages(items, panel_size):
    """Pages of at most PANELS_PER_PAGE panels, three across: yields (figure, the page's axes
    paired with its items, page suffix for the file name, page title suffix). Unused axes are off."""
    count = (len(items) + PANELS_PER_PAGE - 1) // PANELS_PER_PAGE
    for page in range(count):
        shown = items[page * PANELS_PER_PAGE:(page + 1) * PANELS_PER_PAGE]
        cols = min(3, len(shown))
        rows = (len(shown) + cols - 1) // cols
        fig, axs = plt.subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows), squeeze=False)
        for a in list(axs.flat)[len(shown):]:
            a.axis("off")
        yield (fig, list(zip(axs.flat, shown)), f"-{page + 1}" if page else "",
               f", page {page + 1} of {count}" if count > 1 else "")


def drawn_data(fig):
    """What a figure draws, panel by panel: titles, axis labels and scales, every line's label
    and points (markers, fits, theory lines and error-bar centres alike) and the texts."""
    def num(v):
        return [float(x) if np.isfinite(x) else None for x in np.asarray(v, dtype=float)]
    panels = []
    for a in fig.axes:
        if not a.axison:
            continue
        # An error bar's label is its container's; its centres are the container's first line.
        owner = {id(c.lines[0]): c.get_label() for c in a.containers if getattr(c, "lines", None) and c.lines[0]}
        panels.append({"title": a.get_title(), "xlabel": a.get_xlabel(), "ylabel": a.get_ylabel(),
                       "xscale": a.get_xscale(), "yscale": a.get_yscale(),
                       "lines": [{"label": owner.get(id(ln), ln.get_label()), "x": num(ln.get_xdata()),
                                  "y": num(ln.get_ydata())}
                                 for ln in a.get_lines()],
                       "texts": [t.get_text() for t in a.texts]})
    return panels


def single_threaded():
    """Whether this process runs one thread (Linux /proc; elsewhere assumed not): forking is
    only safe then."""
    try:
        with open("/proc/self/status") as fh:
            return any(line.split() == ["Threads:", "1"] for line in fh)
    except OSError:
        return False


class Figures:
    """Saves figures, each laid out and rendered in a forked child (as many at once as there
    are cores) while the next one is built: rendering is most of the time a figure takes."""

    def __init__(self, out, formats):
        self.out, self.formats, self.written = out, formats, []
        self.data = {}  # figure name -> drawn_data (--data)
        self.children = []
        self.parallel = hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and single_threaded()

    def save(self, fig, name):
        self.data[name] = drawn_data(fig)
        paths = [os.path.join(self.out, f"{name}.{ext}") for ext in self.formats]
        self.written += paths
        if self.parallel:
            while len(self.children) >= (os.cpu_count() or 1):
                self.reap(self.children.pop(0))
            pid = os.fork()
            if pid:
                self.children.append(pid)
                plt.close(fig)
                return
            status = 1
            try:
                self.render(fig, paths)
                status = 0
            except BaseException:  # said here: os._exit would swallow it
                import traceback
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(status)
        self.render(fig, paths)
        plt.close(fig)

    @staticmethod
    def render(fig, paths):
        fig.tight_layout()
        for path in paths:
            fig.savefig(path, dpi=120)

    def reap(self, pid):
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError("a figure could not be rendered (its child process failed)")

    def finish(self):
        while self.children:
            self.reap(self.children.pop(0))


def escape_figure(figs, data, axes, names, manifest_depth):
    """Event times against the swept scale, series by the other swept keys; with three or more
    swept keys, one row of panels per value of the last of them (facets), 4 rows a page."""
    scales = [a for a in axes if is_scale([d["attrs"][a] for d in data])]
    if not scales or not names:
        return
    # The initialization scale when it is swept (the laws are in it), else the first scale.
    key = next((a for a in ("initialization.alpha", "initialization.epsilon") if a in scales), scales[0])
    others = [a for a in axes if a != key]
    facet = others.pop() if len(others) >= 2 else None
    facets = {}
    for d in data:
        facets.setdefault(fmt(d["attrs"][facet]) if facet else "", []).append(d)
    facet_items = list(facets.items())
    for page in range(0, len(facet_items), 4):
        shown = facet_items[page:page + 4]
        fig, grid = plt.subplots(len(shown), len(names), figsize=(5.2 * len(names), 4.2 * len(shown)), squeeze=False)
        for row, (fval, fdata) in enumerate(shown):
            escape_panels(grid[row], fdata, key, others, names, axes, manifest_depth,
                          f"{facet.split('.')[-1]} = {fval}: " if facet else "")
        figs.save(fig, "escape" + (f"-{page // 4 + 1}" if page else ""))


def escape_panels(row_axes, data, key, others, names, axes, manifest_depth, title_prefix):
    series = {}
    for d in data:
        series.setdefault(tuple(fmt(d["attrs"][a]) for a in others), []).append(d)
    colors = plt.cm.tab10(np.arange(len(series)) % 10)
    for e, (a, name) in enumerate(zip(row_axes, names)):
        drawn = False
        for (skey, members), c in zip(series.items(), colors):
            inv = np.array([1 / float(d["attrs"][key]) for d in members])
            order = np.argsort(inv)
            med, lo, hi, crossed, total = [], [], [], [], []
            for d in members:
                v = d["events"][:, e]
                ok = v[np.isfinite(v)]
                crossed.append(len(ok)), total.append(len(v))
                med.append(np.median(ok) if len(ok) else np.nan)
                lo.append(np.quantile(ok, 0.1) if len(ok) else np.nan)
                hi.append(np.quantile(ok, 0.9) if len(ok) else np.nan)
            inv, med, lo, hi = inv[order], np.array(med)[order], np.array(lo)[order], np.array(hi)[order]
            crossed, total = np.array(crossed)[order], np.array(total)[order]
            lab = ", ".join(f"{o.split('.')[-1]}={v}" for o, v in zip(others, skey)) or "median"
            good = np.isfinite(med) & (med > 0)
            if not good.any():
                continue
            drawn = True
            a.errorbar(inv[good], med[good], yerr=[med[good] - lo[good], hi[good] - med[good]], fmt="o", color=c,
                       capsize=3, label=lab)
            for x, y, k, n in zip(inv, med, crossed, total):
                if k < n and np.isfinite(y):
                    a.annotate(f"{k}/{n} crossed", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7,
                               color=c)
            depths = {depth_of(d, axes, manifest_depth) for d in members}
            N = depths.pop() if len(depths) == 1 else 0
            escape = key == "initialization.epsilon"  # t = a + ln(1/eps)/lambda_+ from a saddle
            if good.sum() >= 3:  # the fitted law of the medians, as `dlnflow stats` fits it
                xs = np.geomspace(inv[good].min(), inv[good].max(), 50)
                if N == 2 or escape:  # logarithmic: t = a + b ln(1/alpha) at depth 2, or from a saddle
                    s, b = np.polyfit(np.log(inv[good]), med[good], 1)
                    a.plot(xs, b + s * np.log(xs), ":", color=c, lw=1, label=f"fit: {s:.3f} per ln(1/{key.split('.')[-1]})")
                else:
                    s, b = np.polyfit(np.log(inv[good]), np.log(med[good]), 1)
                    a.plot(xs, np.exp(b) * xs ** s, ":", color=c, lw=1, label=f"fit: slope {s:.3f}")
            slope = members[0].get("escape_slope")
            if escape and slope:
                x0, y0 = inv[good][-1], med[good][-1]
                xs = np.geomspace(inv[good].min(), inv[good].max(), 50)
                a.plot(xs, y0 + slope * np.log(xs / x0), "--", color=c, lw=1, label=f"theory 1/lambda+ = {slope:.4g}")
            elif N and N >= 3 and not escape:
                theory = 1 - 2 / N
                x0, y0 = inv[good][-1], med[good][-1]  # anchored at the smallest scale
                xs = np.geomspace(inv[good].min(), inv[good].max(), 50)
                a.plot(xs, y0 * (xs / x0) ** theory, "--", color=c, lw=1, label=f"theory 1-2/N = {theory:.3f}")
        if drawn:  # a logarithmic law is a line on a linear time axis
            a.set(xscale="log", yscale="linear" if key == "initialization.epsilon" else "log")
        else:
            a.text(0.5, 0.5, "no trajectory crossed", ha="center", va="center", transform=a.transAxes)
        a.set(title=f"{title_prefix}t_{name}: median, 10-90%", xlabel=f"1 / {key}", ylabel="time")
        if drawn:
            a.legend(fontsize="x-small")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--out")
    p.add_argument("--format", default="png", help="comma-separated: png, pdf, svg")
    p.add_argument("--data", help="also write what every figure draws (lines, labels, texts) as JSON to this file")
    args = p.parse_args()
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        print(f"dlnflow plot: --format takes png, pdf, svg (comma-separated), got {args.format!r}", file=sys.stderr)
        return 2
    path = os.path.join(args.results, "trajectories.h5")
    if not os.path.exists(path):
        print(f"dlnflow plot: {path} not found", file=sys.stderr)
        return 2
    out = args.out or os.path.join(args.results, "plots")
    os.makedirs(out, exist_ok=True)
    manifest_depth = 0
    try:
        with open(os.path.join(args.results, "manifest.json")) as fh:
            net = json.load(fh)["experiment"]["experiment"]["network"]
        if net.get("parametrization") in ("deep", "end_to_end"):
            manifest_depth = int(net["depth"]) if "depth" in net else len(net.get("widths", [0])) - 1
    except (OSError, KeyError, ValueError, TypeError):
        pass
    with h5py.File(path, "r") as f:
        axes = [text(a) for a in f.attrs["axes"]]
        points = sorted(f["points"].keys(), key=int)
        groups = [f["points"][k] for k in points if len(f["points"][k]["seed"]) > 0]
        if not groups:
            print("dlnflow plot: no finished trajectories to plot", file=sys.stderr)
            return 2
        data = []
        for g in groups:
            names = [text(n) for n in g["events"].attrs["names"]]
            crit = g["critical_points/loss"][:] if "critical_points" in g else None
            near = dict(distance=g["critical_points/distance"][:4], nearest=g["critical_points/nearest"][:4],
                        labels=[text(x) for x in g["critical_points"].attrs["labels"]]) if crit is not None else None
            # The start's escape slope 1/lambda_+ (docs/theory.md §6.6), for starts eps away from a
            # catalogued critical point.
            start = json.loads(text(g.attrs["experiment"])).get("initialization", {})
            escape_slope = None
            if crit is not None and start.get("kind") == "critical_point" and "escape_slope" in g["critical_points"]:
                v = float(g["critical_points/escape_slope"][int(start.get("index", 0))])
                escape_slope = v if np.isfinite(v) else None
            data.append(dict(label=label(g.attrs, axes), attrs=dict(g.attrs), t=g["time"][:], loss=g["loss"][:],
                             escape_slope=escape_slope,
                             spectrum=g["spectrum"][:], events=g["events/times"][:], names=names,
                             final_loss=g["final_loss"][:], final_rank=g["final_rank"][:], critical=crit, near=near))
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: diverged or unfinished points
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(data)))
    figs = Figures(out, formats)
    names = data[0]["names"]

    escape_figure(figs, data, axes, names, manifest_depth)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for d, c in zip(data, colors):
        t = positive(d["t"])
        loss = positive(d["loss"])
        if not (np.isfinite(loss) & np.isfinite(t)).any():
            continue  # diverged before the first record time, or a loss of exactly 0 throughout
        drawn = True
        med = np.nanmedian(loss, axis=0)
        lo, hi = np.nanquantile(loss, 0.1, axis=0), np.nanquantile(loss, 0.9, axis=0)
        ax.plot(t, med, color=c, label=d["label"])
        ax.fill_between(t, lo, hi, color=c, alpha=0.25, linewidth=0)
    crit = data[0]["critical"]
    if crit is not None and all(d["critical"] is not None and np.array_equal(d["critical"], crit) for d in data):
        for i, v in enumerate(np.unique(crit[crit > 0])):
            ax.axhline(v, color="0.5", ls="--", lw=0.8, label="critical values" if i == 0 else None)
    ax.set(xlabel="time t", ylabel="loss", title="loss: median and 10-90% band")
    if drawn:
        ax.set(xscale="log", yscale="log")
    else:
        ax.text(0.5, 0.5, "no positive loss at a positive record time\n(0 throughout, or stopped first)",
                ha="center", va="center", transform=ax.transAxes)
    if any(not h.get_label().startswith("_") and h.get_label() for h in ax.get_legend_handles_labels()[0]):
        ax.legend(fontsize="small" if len(data) <= 12 else "xx-small", ncol=1 if len(data) <= 12 else 2)
    figs.save(fig, "loss")

    for fig, panels, suffix, title in pages(data, (4.2, 3.2)):
        for a, d in panels:
            med = np.nanmedian(positive(d["spectrum"]), axis=0)
            t = positive(d["t"])
            at = t[(np.isfinite(med) & np.isfinite(t)[:, None]).any(axis=1)]  # times with a value
            for i in range(med.shape[1]):
                a.plot(t, med[:, i], "." if len(at) == 1 else "-", label=f"sigma{i + 1}")
            a.set(title=d["label"], xlabel="t")
            if len(at):
                if len(at) == 1:  # one record time (the others after a terminal event): a decade around it
                    a.set_xlim(at[0] / 3, at[0] * 3)
                a.set(xscale="log", yscale="log")
                a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # over a narrow range they collide
            else:  # every trajectory stopped before the first record time (a terminal event, or diverged)
                a.text(0.5, 0.5, "nothing recorded\n(stopped before the first\nrecord time, or diverged)", ha="center",
                       va="center", transform=a.transAxes)
                a.set_xticks([]), a.set_yticks([])
        next((a for a, _ in panels if a.get_lines()), panels[0][0]).legend(fontsize="x-small")  # a panel with lines
        fig.suptitle("singular values of W (median over seeds)" + title)
        figs.save(fig, "singular_values" + suffix)

    if names:
        fig, axs = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.6), squeeze=False)
        for e, a in enumerate(axs.flat):
            values = [d["events"][:, e] for d in data]
            finite = [v[np.isfinite(v) & (v > 0)] for v in values]
            total = sum(len(v) for v in values)
            crossed = sum(len(v) for v in finite)
            if crossed:
                allv = np.concatenate(finite)
                bins = np.geomspace(allv.min(), allv.max() * (1 + 1e-9), 25) if allv.max() > allv.min() else 10
                for v, d, c in zip(finite, data, colors):
                    if len(v):
                        a.hist(v, bins=bins, color=c, alpha=0.6, label=d["label"])
                a.set(xscale="log" if np.ndim(bins) else "linear")
            else:
                a.text(0.5, 0.5, f"0/{total} crossed", ha="center", va="center", transform=a.transAxes)
            a.set(title=f"t_{names[e]}: {crossed}/{total} crossed", xlabel="time", ylabel="trajectories")
            if crossed and len(data) <= 12:
                a.legend(fontsize="x-small")
        figs.save(fig, "event_times")

    timeline = [d for d in data if d["near"] is not None]
    for fig, panels, suffix, title in pages(timeline, (4.8, 3.4)):
        for a, d in panels:
            t, near = positive(d["t"]), d["near"]
            b = a.twinx()
            used, any_distance = set(), False
            for i, (dist, idx) in enumerate(zip(near["distance"], near["nearest"])):
                ok = np.isfinite(t) & (idx >= 0)
                a.plot(t[ok], positive(dist)[ok], color=f"C{i}", lw=1.2, label=f"trajectory {i}")
                b.step(t[ok], idx[ok], where="post", color=f"C{i}", lw=0.7, ls=":")
                used |= set(int(x) for x in idx[ok])
                any_distance |= bool(np.isfinite(positive(dist)[ok]).any())
            if used:
                ticks = sorted(used)
                b.set_yticks(ticks)
                b.set_yticklabels([near["labels"][k] for k in ticks], fontsize=6)
                a.set(xscale="log")
                if any_distance:
                    a.set(yscale="log")
                else:  # exactly at a catalogued point throughout: no distance to draw on log axes
                    a.text(0.5, 0.5, "distance 0 at every record time", ha="center", va="center",
                           transform=a.transAxes, fontsize=8)
            else:  # every trajectory stopped (diverged, say) before the first record time
                a.text(0.5, 0.5, "no state recorded\n(stopped before the first record time)", ha="center", va="center",
                       transform=a.transAxes)
                a.set_xticks([]), a.set_yticks([]), b.set_yticks([])
            a.set(title=d["label"], xlabel="t", ylabel="distance to nearest (solid)")
        panels[0][0].legend(fontsize="x-small", loc="lower left")
        fig.suptitle("saddle-to-saddle timeline: distance to, and (dotted, right) which, catalogued critical point"
                     + title, fontsize=9)
        figs.save(fig, "timeline" + suffix)

    numeric = [a for a in axes if isinstance(data[0]["attrs"].get(a), (float, int, np.floating, np.integer))]
    if numeric:
        key = numeric[0]
        x = np.array([float(d["attrs"][key]) for d in data])
        logx = np.all(x > 0) and x.max() / x.min() > 100
        panels = [("final loss (median)", [np.nanmedian(d["final_loss"]) for d in data], True),
                  ("final rank (median)", [np.median(d["final_rank"]) for d in data], False)]
        for e, n in enumerate(names):
            panels.append((f"t_{n} (median)", [np.nanmedian(d["events"][:, e]) if np.isfinite(d["events"][:, e]).any()
                                               else np.nan for d in data], True))
        fig, axs = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
        for a, (title, y, logy) in zip(axs.flat, panels):
            y = np.asarray(y, dtype=float)
            a.plot(x, y, "o")
            logy = logy and (y > 0).any()
            a.set(title=title, xlabel=key, xscale="log" if logx else "linear", yscale="log" if logy else "linear")
        figs.save(fig, "sweep")

    figs.finish()
    if args.data:
        with open(args.data, "w") as fh:
            json.dump(figs.data, fh)
    for w in figs.written:
        print(w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
