"""run() and check(): the command's `run` and `check`, from Python."""
import os
import shutil
import tempfile
import warnings

import numpy as np
import pandas as pd

from . import _core, _experiment
from ._errors import DlnflowWarning, GpuError, UsageError, python_wording
from ._results import Results


def _progress_bar(total, name, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # a widget in notebooks, a bar in terminals

    return tqdm(total=total, desc=name, unit="traj", dynamic_ncols=True)


def _warn(experiment_info):
    for w in experiment_info["warnings"]:
        warnings.warn(w, DlnflowWarning, stacklevel=3)


def _backend(backend):
    if backend not in ("auto", "cpu", "gpu"):
        raise UsageError(f'backend must be "auto", "cpu" or "gpu", got {backend!r}')
    return backend


def run(experiment, out=None, backend="auto", threads=None, progress=True, resume=False, overwrite=False,
        force=False):
    """Runs an experiment and returns its :class:`Results`.

    Parameters
    ----------
    experiment : dict, str or os.PathLike
        A dict with exactly the schema of the experiment file (docs/experiment-file.md), a path to
        a TOML file, or TOML text. Validated as the command validates it: an invalid key raises
        :class:`dlnflow.InputError` naming its key path.
    out : str or os.PathLike, optional
        The results folder to write (manifest.json, summary.csv, trajectories.h5, as
        ``dlnflow run FILE --out DIR``; resumable). Without it the results are kept in memory.
    backend : {"auto", "cpu", "gpu"}
        ``auto``: the GPU when one is usable and covers every point, else the CPU (as the command).
    threads : int, optional
        CPU threads; all hardware threads by default.
    progress : bool
        A progress bar (tqdm: a widget in notebooks, a bar in terminals).
    resume : bool
        Continue an interrupted run in ``out`` without recomputing finished chunks.
    overwrite : bool
        Replace an existing results folder in ``out`` (only one dlnflow wrote).
    force : bool
        Run although the estimate exceeds free memory or disk.

    Ctrl-C (KeyboardInterrupt) stops after the chunk in flight; with ``out`` the folder is left
    resumable (``resume=True``), and the KeyboardInterrupt is raised again. Warnings about the
    input come as :class:`dlnflow.DlnflowWarning`. The GIL is released while the engine runs.
    """
    ex, _ = _experiment.prepare(experiment)
    info = _core.describe(ex, 0)
    _warn(info)
    tmp = None
    if out is None:
        if resume or overwrite:
            raise UsageError("resume and overwrite need a results folder (out=...)")
        tmp = tempfile.mkdtemp(prefix="dlnflow-")
        target = os.path.join(tmp, "results")
    else:
        target = os.fspath(out)
    bar = _progress_bar(info["trajectories"], info["name"], progress)

    def tick(done, total):
        if total and bar.total != total:
            bar.total = total
        if done > bar.n:
            bar.update(done - bar.n)

    try:
        try:
            outcome = _core.run(ex, target, _backend(backend), int(threads or 0), bool(resume), bool(overwrite),
                                bool(force), tick if bar is not None else None)
        except (UsageError, GpuError) as e:
            raise type(e)(python_wording(str(e))) from None
        if bar is not None:
            tick(outcome["done"], outcome["total"])
        if outcome["interrupted"] or outcome["by_user"]:  # by_user alone: Ctrl-C as the last chunk finished
            if tmp is not None:
                where = "discarded (no out= folder was given)"
            elif outcome["interrupted"]:
                where = f"saved in {target} (continue with dlnflow.run(..., out={target!r}, resume=True))"
            else:
                where = f"saved in {target} (the run had finished: dlnflow.load({target!r}))"
            raise KeyboardInterrupt(f"dlnflow: interrupted: {outcome['done']} of {outcome['total']} trajectories {where}")
        return Results(target, in_memory=tmp is not None)  # read in full before the temporary folder goes
    finally:
        if bar is not None:
            bar.close()
        if tmp is not None:  # made by mkdtemp above: ours to remove
            shutil.rmtree(tmp, ignore_errors=True)


def check(experiment, out=None, threads=None):
    """Validates an experiment and says what a run would do, as data (``dlnflow check``).

    Returns a dict: ``name``, ``description``, ``axes``, ``seeds``, ``point_count``,
    ``trajectories``, ``points`` (a DataFrame, one
    row per sweep point: its swept values, state size, method, t_final, record times, events),
    ``critical_points`` (point 0's catalogue, a DataFrame), ``estimate`` (memory and disk a run
    needs against what the machine has) and ``warnings``. Raises :class:`dlnflow.InputError` as
    ``run`` would.
    """
    ex, _ = _experiment.prepare(experiment)
    info = _core.describe(ex, 1 << 62)
    _warn(info)
    rows = []
    for p in info["points"]:
        row = {"point": p["index"]}
        for path, (text, number) in p["coordinates"].items():
            row[path] = number if number == number else text
        row.update({k: p[k] for k in ("state_size", "method", "t_final", "record_times")})
        row["events"] = len(p["events"])
        rows.append(row)
    folder = os.fspath(out) if out is not None else os.path.join("results", info["name"])
    est = _core.estimate(ex, folder, int(threads or 0))
    cp = info["points"][0]["critical_points"] if info["points"] else []
    return {"name": info["name"], "description": info["description"], "axes": list(info["axes"]),
            "seeds": info["seeds"], "point_count": info["point_count"], "trajectories": info["trajectories"],
            "points": pd.DataFrame(rows).set_index("point"),
            "critical_points": pd.DataFrame(cp, columns=["label", "loss"]),
            "estimate": est, "warnings": list(info["warnings"])}


def catalog(experiment):
    """Every catalogued critical point of the experiment's problems, with what the Hessian of the
    loss in the network's parameters says there (``dlnflow catalog``; docs/theory.md §6.6).

    Returns a DataFrame, one row per critical point of each distinct ``[problem]`` and
    ``[network]``: ``points`` (the sweep points sharing that catalogue, a tuple), ``index`` (what
    ``initialization.index`` takes), ``label``, ``rank``, ``loss``, ``kind`` (minimum, strict
    saddle, non-strict saddle, not computed), ``hessian_negative``/``hessian_zero``/
    ``hessian_positive``, ``rate`` (lambda_+), ``escape_slope`` (1/lambda_+), ``order``,
    ``reason`` (why not computed) and ``hessian_eigenvalues`` (an array). Raises
    :class:`dlnflow.InputError` for a loss without a catalogue.
    """
    ex, _ = _experiment.prepare(experiment)
    rows = _core.catalog(ex)
    for r in rows:
        r["hessian_eigenvalues"] = np.asarray(r["hessian_eigenvalues"])
    return pd.DataFrame(rows)
