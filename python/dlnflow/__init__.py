"""dlnflow: batched gradient-flow dynamics of deep linear networks, from Python.

    import dlnflow
    res = dlnflow.run("examples/quickstart.toml")         # or a dict with the file's schema
    res.summary                                           # pandas.DataFrame, one row per trajectory
    res.series                                            # xarray.Dataset (point, trajectory, time)
    dlnflow.load("results/quickstart")                    # any results folder, the command's too

The engine is the one the ``dlnflow`` command runs (one schema, the same numbers); see
docs/python.md.
"""
from . import _core
from ._arrays import Problem, solve
from ._errors import DlnflowError, DlnflowWarning, GpuError, InputError, RunError, UsageError
from ._results import Results, load
from ._run import catalog, check, run

_core._bind_errors(InputError, UsageError, GpuError, RunError)

__version__ = "0.1.0"


def build_info():
    """What this build of the engine is (version, revision, compiler, CUDA): ``dlnflow info``."""
    return _core.build_summary()


def gpu_available():
    """(usable, why): whether this build has a CUDA backend and a usable device."""
    return tuple(_core.gpu_available())


__all__ = ["run", "load", "check", "catalog", "Results", "Problem", "solve", "DlnflowError", "InputError", "UsageError",
           "GpuError", "RunError", "DlnflowWarning", "build_info", "gpu_available", "__version__"]
