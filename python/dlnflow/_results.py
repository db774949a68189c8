"""A results folder (docs/results.md) as Python objects: the summary as a pandas DataFrame, the
recorded time series as an xarray Dataset, matrices as NumPy arrays, the manifest as a dict."""
import json
import os

import h5py
import numpy as np
import pandas as pd
import xarray as xr

_PER_TRAJECTORY = ("t_end", "final_loss", "final_rank", "steps", "rejected", "rhs_evaluations", "switches",
                   "implicit_steps", "implicit_time", "jvp_evaluations", "linear_iterations")
_FLOAT = ("t_end", "final_loss", "implicit_time")  # the rest are counts: int64, -1 where not run
_SERIES = ("loss", "grad_norm", "balance_defect", "rank")


def _point_groups(f):
    """Point groups in numeric order (HDF5 lists them as strings: 0, 1, 10, 2, ...)."""
    return sorted(f["points"].keys(), key=int)


def _attr_value(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


class Results:
    """What a run wrote, loaded from its folder (:func:`dlnflow.load`) or kept in memory
    (:func:`dlnflow.run` without ``out``).

    Attributes
    ----------
    path : str or None
        The results folder; None for results kept in memory.
    manifest : dict
        manifest.json: what ran, how, and whether it finished.
    summary : pandas.DataFrame
        summary.csv: one row per trajectory, the swept values as typed columns.
    axes : list of str
        The swept key paths, in expansion order (the last varies fastest).
    """

    def __init__(self, path, in_memory=False):
        self.path = None if in_memory else os.path.abspath(path)
        with open(os.path.join(path, "manifest.json")) as fh:
            self.manifest = json.load(fh)
        self.summary = pd.read_csv(os.path.join(path, "summary.csv"), keep_default_na=True,
                                   na_values=["nan"])
        self._h5_path = os.path.join(path, "trajectories.h5")
        self._series = None
        self._matrices = None  # in memory: (point, kind) -> matrices
        self._catalogues = None  # in memory: point -> DataFrame
        self._file_map = None  # trajectories.h5 mapped read-only, for views of its matrices
        with h5py.File(self._h5_path, "r") as f:
            self.axes = [_attr_value(a) for a in f.attrs.get("axes", [])]
            self._type_summary(f)
        if in_memory:  # everything read before the temporary folder goes
            self._series = self._build_series()
            self._matrices, self._catalogues = {}, {}
            with h5py.File(self._h5_path, "r") as f:
                for name in _point_groups(f):
                    g = f["points"][name]
                    for kind in ("final_state", "initial_state", "states"):
                        if kind in g:
                            self._matrices[(int(name), kind)] = {k: g[kind][k][()] for k in g[kind]}
                    if "critical_points" in g:
                        self._catalogues[int(name)] = self._catalogue(g)

    def _type_summary(self, f):
        """Columns typed by what they hold, not by the values a CSV reader sees: times and losses
        are floats even where every one is integral (t_end = 100), a swept value takes its type
        from the experiment (alpha = [1.0, 2.0] is float; the CSV writes 1 and 2)."""
        df = self.summary
        for c in df.columns:
            if c in _FLOAT or c == "critical_distance" or (c.startswith("t_") and c != "t_end"):
                df[c] = df[c].astype(float)
        groups = [f["points"][n] for n in _point_groups(f)]
        for a in self.axes:
            if a not in df.columns:
                continue
            kinds = {type(_attr_value(g.attrs[a])) for g in groups if a in g.attrs}
            if kinds == {float} or kinds == {int, float}:
                df[a] = df[a].astype(float)
            elif kinds == {int}:
                df[a] = df[a].astype("int64")

    def __repr__(self):
        where = self.path or "in memory"
        t = self.manifest.get("trajectories", {})
        return (f"<dlnflow.Results {self.manifest.get('experiment', {}).get('name', '')!r}: "
                f"{t.get('done')} of {t.get('total')} trajectories, {self.manifest.get('status')}, {where}>")

    @property
    def backend(self):
        """Where the latest session ran: ``"cpu"`` or ``"gpu"``."""
        return self.manifest.get("backend")

    @property
    def backend_reason(self):
        """Why ``backend="auto"`` ran on the CPU (no usable GPU, or a point the GPU backend does not
        cover), as the command says it on stderr; None where it did not fall back."""
        return self.manifest.get("backend_reason")

    @property
    def complete(self):
        """Whether the run finished (manifest status ``complete``)."""
        return self.manifest.get("status") == "complete"

    @property
    def series(self):
        """The recorded time series as an xarray Dataset.

        Dimensions ``point``, ``trajectory`` (the seed index), ``time`` (and ``k`` for the
        spectrum, ``event`` for event times); the swept values are coordinates along ``point``
        (named by their key path), the record times the ``time`` coordinate (a variable ``t`` of
        dimensions point, time where the points record at different times). Trajectories a run did not finish are NaN. Per
        trajectory: status (a string), t_end, final_loss, final_rank, the step counts and the
        event times.
        """
        if self._series is None:
            self._series = self._build_series()
        return self._series

    @property
    def events(self):
        """First crossing times of every event, (point, trajectory, event), NaN where none: a view of
        ``series["event_time"]``."""
        return self.series["event_time"]

    def _matrix_group(self, point, kind):
        if self._matrices is not None:
            if (point, kind) not in self._matrices:
                raise KeyError(f"point {point} has no {kind} (record.save_states)")
            return dict(self._matrices[(point, kind)])
        with h5py.File(self._h5_path, "r") as f:
            g = f["points"][str(point)]
            if kind not in g:
                raise KeyError(f"point {point} has no {kind} (record.save_states)")
            return {k: self._view(g[kind][k]) for k in g[kind]}

    def _view(self, dset):
        """A read-only view of the file's bytes (no copy) where the dataset is stored
        contiguously and uncompressed, as dlnflow writes its matrices; a copy otherwise. The file
        is replaced, never rewritten in place (a rerun renames a new one over it), so a view keeps
        the data it was made from."""
        offset = dset.id.get_offset()
        if (dset.chunks is None and dset.compression is None and offset is not None and dset.size > 0
                and dset.dtype.isnative):
            if self._file_map is None:  # one map of the whole file (one descriptor), views into it
                self._file_map = np.memmap(self._h5_path, dtype=np.uint8, mode="r")
            return np.ndarray(dset.shape, dtype=dset.dtype, buffer=self._file_map, offset=offset)
        return dset[()]

    def final_states(self, point=0):
        """The final matrices of a point, ``{"W1": (n, rows, cols), ...}`` (or ``U``, ``W``), with
        ``record.save_states = "final"`` or ``"endpoints"``; one row per finished trajectory, in
        the order of the point's ``seed`` dataset (seed 0, 1, ... for a complete run). From a
        folder they are read-only views into a map of trajectories.h5, not copies."""
        return self._matrix_group(point, "final_state")

    def initial_states(self, point=0):
        """The initial matrices of a point (``record.save_states = "endpoints"``)."""
        return self._matrix_group(point, "initial_state")

    def states(self, point=0):
        """The matrices at every record time, ``{"W1": (n, T, rows, cols), ...}``
        (``record.save_states = "recorded"``)."""
        return self._matrix_group(point, "states")

    def critical_points(self, point=0):
        """The critical-point catalogue of a point (``record.critical_points``): label, loss, and
        what the Hessian says there (kind, hessian_negative/zero/positive, rate = lambda_+,
        escape_slope = 1/lambda_+, order; docs/theory.md §6.6)."""
        if self._catalogues is not None:
            if point not in self._catalogues:
                raise KeyError(f"point {point} recorded no critical points (record.critical_points)")
            return self._catalogues[point].copy()
        with h5py.File(self._h5_path, "r") as f:
            g = f["points"][str(point)]
            if "critical_points" not in g:
                raise KeyError(f"point {point} recorded no critical points (record.critical_points)")
            return self._catalogue(g)

    @staticmethod
    def _catalogue(g):
        c = g["critical_points"]
        table = {"label": [_attr_value(x) for x in c.attrs["labels"]], "loss": c["loss"][()]}
        if "kinds" in c.attrs:  # files of dlnflow before the catalogue's Hessians have none
            table["kind"] = [_attr_value(x) for x in c.attrs["kinds"]]
            for name in ("hessian_negative", "hessian_zero", "hessian_positive", "rate", "escape_slope", "order"):
                table[name] = c[name][()]
        return pd.DataFrame(table)

    def _build_series(self):
        with h5py.File(self._h5_path, "r") as f:
            names = _point_groups(f)
            status_names = [_attr_value(s) for s in f.attrs["status_names"]]
            axes = self.axes
            seeds = int(self.manifest["experiment"]["sweep"]["seeds"]) if "sweep" in self.manifest.get(
                "experiment", {}) else None
            groups = [f["points"][n] for n in names]
            if seeds is None:
                seeds = max([int(g["seed"][()].max()) + 1 for g in groups if g["seed"].shape[0]] or [1])
            times = [g["time"][()] for g in groups]
            T = max([len(t) for t in times] or [0])
            same_times = all(len(t) == T and np.array_equal(t, times[0]) for t in times)
            K = max([g["spectrum"].shape[2] for g in groups if "spectrum" in g] or [0])
            ev_names = []
            for g in groups:
                if "events" in g:
                    src = g["events"].attrs.get("names", g["events"]["times"].attrs.get("names", []))
                    ev_names = [_attr_value(x) for x in src]
                    break
            E = len(ev_names)
            P = len(groups)
            data = {k: np.full((P, seeds, T), np.nan) for k in ("loss", "grad_norm", "balance_defect")}
            data["rank"] = np.full((P, seeds, T), -1, dtype=np.int32)
            spectrum = np.full((P, seeds, T, K), np.nan)
            events = np.full((P, seeds, E), np.nan)
            per = {k: np.full((P, seeds), np.nan) if k in _FLOAT else np.full((P, seeds), -1, dtype=np.int64)
                   for k in _PER_TRAJECTORY}
            status = np.full((P, seeds), "not_run", dtype=object)
            has_critical = any("critical_points" in g for g in groups)
            if has_critical:
                crit_d = np.full((P, seeds, T), np.nan)
                crit_i = np.full((P, seeds, T), -1, dtype=np.int32)
            t2 = np.full((P, T), np.nan)
            for p, g in enumerate(groups):
                s = g["seed"][()].astype(int)
                t2[p, :len(times[p])] = times[p]
                Tp = len(times[p])
                for k in ("loss", "grad_norm", "balance_defect", "rank"):
                    if k in g:
                        data[k][p, s, :Tp] = g[k][()]
                if "spectrum" in g:
                    sp = g["spectrum"][()]
                    spectrum[p, s, :Tp, :sp.shape[2]] = sp
                if E and "events" in g:
                    events[p, s, :] = g["events"]["times"][()]
                for k in _PER_TRAJECTORY:
                    if k in g:
                        per[k][p, s] = g[k][()]
                status[p, s] = [status_names[i] for i in g["status"][()]]
                if has_critical and "critical_points" in g:
                    crit_d[p, s, :Tp] = g["critical_points"]["distance"][()]
                    crit_i[p, s, :Tp] = g["critical_points"]["nearest"][()]
            coords = {"point": np.arange(P), "trajectory": np.arange(seeds)}  # trajectory: the seed index
            coords["time"] = times[0] if (same_times and P) else np.arange(T)
            for a in axes:
                coords[a] = ("point", [_attr_value(g.attrs[a]) if a in g.attrs else None for g in groups])
            if E:
                coords["event"] = ev_names
            dv = {k: (("point", "trajectory", "time"), v) for k, v in data.items()}
            dv["spectrum"] = (("point", "trajectory", "time", "k"), spectrum)
            dv["event_time"] = (("point", "trajectory", "event"), events) if E else (("point", "trajectory", "event"),
                                                                             np.zeros((P, seeds, 0)))
            for k, v in per.items():
                dv[k] = (("point", "trajectory"), v)
            dv["status"] = (("point", "trajectory"), status)
            if has_critical:
                dv["critical_distance"] = (("point", "trajectory", "time"), crit_d)
                dv["critical_nearest"] = (("point", "trajectory", "time"), crit_i)
            if not same_times:
                dv["t"] = (("point", "time"), t2)
            return xr.Dataset(dv, coords=coords, attrs={"experiment": self.manifest.get("experiment", {}).get("name", "")})

    def long(self):
        """The time series in long format (one row per point, trajectory and record time) for pandas."""
        ds = self.series[["loss", "grad_norm", "balance_defect", "rank"]]
        return ds.to_dataframe().reset_index()


def load(path):
    """The :class:`Results` of a results folder, written by :func:`dlnflow.run` or by the
    command (``dlnflow run FILE --out DIR``), complete or not."""
    from ._errors import UsageError

    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, "manifest.json")):
        raise UsageError(f"{path} is not a dlnflow results folder (no manifest.json)")
    if not os.path.isfile(os.path.join(path, "trajectories.h5")):
        raise UsageError(f"{path} has no trajectories.h5 yet (a run stopped before writing it): resume it, "
                         f"dlnflow.run(experiment, out={path!r}, resume=True), to write the data files from its "
                         f"checkpoints")
    return Results(path)
