"""What every study shares: a claim row, the runner that drives the dlnflow command, the reader
of its results folder, and the numerical helpers the oracles are built from (numpy only)."""
import csv
import json
import math
import os
import subprocess

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


class Claim:
    def __init__(self, paper, claim, setup, prediction, measured, ok, figure=""):
        self.paper, self.claim, self.setup = paper, claim, setup
        self.prediction, self.measured, self.ok, self.figure = prediction, measured, ok, figure


class Runner:
    """Runs experiment files with the dlnflow command into a scratch folder."""

    def __init__(self, binary, scratch, backend, full, plots=True):
        self.binary, self.scratch, self.backend, self.full = binary, scratch, backend, full
        self.backends_used = set()
        self.plots, self.plotted = plots, 0

    def text(self, example, reduce=None, replace=None):
        """The text of examples/<example>; `reduce` maps 'key = value' lines to their reduced
        form (applied unless --full), `replace` is applied always (generated parameters)."""
        text = open(os.path.join(EXAMPLES, example)).read()
        edits = dict(replace or {})
        if reduce and not self.full:
            edits.update(reduce)
        for old, new in edits.items():
            if old not in text:
                raise RuntimeError(f"{example}: cannot edit, '{old}' not found")
            text = text.replace(old, new)
        return text

    def run(self, example, reduce=None, replace=None, name=None):
        """Runs examples/<example> (edited as in text()); returns its Results."""
        text = self.text(example, reduce, replace)
        name = name or example.replace("/", "_").replace(".toml", "")
        return self.run_text(name, text, os.path.dirname(os.path.join(EXAMPLES, example)))

    def catalog(self, name, text):
        """`dlnflow catalog --json` of a generated experiment: one entry per distinct problem."""
        exp = os.path.join(self.scratch, name + ".toml")
        with open(exp, "w") as f:
            f.write(text)
        r = subprocess.run([self.binary, "catalog", exp, "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"dlnflow catalog {name} failed ({r.returncode}): {r.stderr}")
        return json.loads(r.stdout)

    def stats(self, results):
        """`dlnflow stats --json` of a results folder."""
        r = subprocess.run([self.binary, "stats", results.folder, "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"dlnflow stats {results.folder} failed ({r.returncode}): {r.stderr}")
        return json.loads(r.stdout)

    def run_text(self, name, text, data_dir=None):
        """Runs a generated experiment (data files resolved in `data_dir`)."""
        exp = os.path.join(self.scratch, name + ".toml")
        with open(exp, "w") as f:
            f.write(text)
        # Relative data files of the example stay reachable from the scratch copy.
        for entry in os.listdir(data_dir) if data_dir else []:
            if entry.endswith((".npy", ".csv")):
                link = os.path.join(self.scratch, entry)
                if not os.path.exists(link):
                    os.symlink(os.path.join(data_dir, entry), link)
        out = os.path.join(self.scratch, name)
        r = subprocess.run([self.binary, "run", exp, "--out", out, "--overwrite", "--quiet", "--backend",
                            self.backend], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"dlnflow run {name} failed ({r.returncode}): {r.stderr}")
        self.backends_used.add(json.load(open(os.path.join(out, "manifest.json")))["device"])
        self.plot(name, out)
        return Results(out)

    def plot(self, name, out):
        """Every study's results drawn by `dlnflow plot`, which must say nothing on stderr (issue
        #17: figures for every example, without warnings); what it drew is kept beside them."""
        if not self.plots:
            return
        r = subprocess.run([self.binary, "plot", out, "--data", os.path.join(out, "plots", "drawn.json")],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            raise RuntimeError(f"dlnflow plot {name} ({r.returncode}): {r.stderr}")
        self.plotted += 1


class Results:
    def __init__(self, folder):
        self.folder = folder
        with open(os.path.join(folder, "summary.csv"), newline="") as f:
            self.rows = list(csv.DictReader(f))
        self.h5 = h5py.File(os.path.join(folder, "trajectories.h5"), "r")

    def point(self, i):
        return self.h5["points"][str(i)]

    def points(self):
        return [self.point(i) for i in range(len(self.h5["points"]))]


def product(group, prefix="final_state"):
    """W = W_N ⋯ W_1 from a point's saved factors (final_state: (n, r, c); states: (n, T, r, c))."""
    g = group[prefix]
    names = sorted((k for k in g if k.startswith("W") and k[1:].isdigit()), key=lambda k: int(k[1:]))
    if names:
        W = g[names[0]][()]
        for k in names[1:]:
            W = g[k][()] @ W
        return W
    if "U" in g:
        U = g["U"][()]
        return U @ np.swapaxes(U, -1, -2)
    return g["W"][()]


def depth_of(row):
    """The depth N of a summary.csv row of a `network.widths` sweep."""
    return len(eval(row["network.widths"])) - 1


def fmt(x, digits=10):
    return f"{x:.{digits}g}"


def quad_log(f, a, b, panels=400, order=32):
    """∫_a^b f(w) dw for 0 < a < b by Gauss–Legendre in u = ln w (graded integrands)."""
    x, wts = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(math.log(a), math.log(b), panels + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        u = 0.5 * (hi - lo) * x + 0.5 * (lo + hi)
        w = np.exp(u)
        total += 0.5 * (hi - lo) * np.sum(wts * w * f(w))
    return total


def log_slope(x, y):
    """Least-squares slope of ln y against ln x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def save_figure(fig, figdir, name):
    """Writes docs/validation/<name>.png and returns its path."""
    fig.tight_layout()
    path = f"{figdir}/{name}.png"
    fig.savefig(path, dpi=110)
    plt().close(fig)
    return path


def deep_square_rk4(factors, Z, t, steps):
    """Independent reference: the factor flow of (1/2)||W_N ⋯ W_1 − Z||² by classical RK4 with
    `steps` fixed steps to time t (numpy; for short horizons of small problems)."""
    def rhs(Ws):
        N = len(Ws)
        pre = [np.eye(Ws[0].shape[1])]          # W_{j-1} ⋯ W_1
        for W in Ws[:-1]:
            pre.append(W @ pre[-1])
        post = [np.eye(Ws[-1].shape[0])]        # W_N ⋯ W_{j+1}
        for W in reversed(Ws[1:]):
            post.insert(0, post[0] @ W)
        G = Ws[-1] @ pre[-1] - Z
        return [-(post[j].T @ G @ pre[j].T) for j in range(N)]
    Ws, h = [np.array(W, dtype=float) for W in factors], t / steps
    for _ in range(steps):
        k1 = rhs(Ws)
        k2 = rhs([W + h / 2 * k for W, k in zip(Ws, k1)])
        k3 = rhs([W + h / 2 * k for W, k in zip(Ws, k2)])
        k4 = rhs([W + h * k for W, k in zip(Ws, k3)])
        Ws = [W + h / 6 * (a + 2 * b + 2 * c + d) for W, a, b, c, d in zip(Ws, k1, k2, k3, k4)]
    return Ws


def toml_matrix(M):
    """A matrix as an inline TOML array, every entry to full precision."""
    M = np.atleast_2d(M)
    return "[" + ", ".join("[" + ", ".join(repr(float(x)) for x in row) + "]" for row in M) + "]"
