"""The arrays-in, arrays-out layer: a problem built in code, initial factors as NumPy arrays,
results as NumPy arrays, no files."""
import copy
from collections.abc import Mapping

import numpy as np

from . import _core, _experiment
from ._errors import InputError

_OPTION_SECTIONS = ("integrator", "stop", "record", "events")


class Problem:
    """A loss and a parametrization: the ``[problem]`` and ``[network]`` sections of the
    experiment schema (docs/experiment-file.md), validated as the command validates them.

    >>> p = dlnflow.Problem(problem={"loss": "matrix_approximation",
    ...                              "target": {"generate": "diagonal", "values": [2.0, 1.0]}},
    ...                     network={"parametrization": "deep", "depth": 3, "width": 2})
    >>> p.state_size, p.blocks
    (12, [(2, 2), (2, 2), (2, 2)])

    A state vector holds the factors W_1 .. W_N (or U, or W) one after another, each in
    column-major (Fortran) order: :meth:`pack` and :meth:`unpack` convert.
    """

    def __init__(self, problem, network):
        for name, section in (("problem", problem), ("network", network)):
            if not isinstance(section, Mapping):
                raise TypeError(f"{name} is a dict (the [{name}] section of the experiment file), "
                                f"not {type(section).__name__}")
        # A copy: the blocks below describe these sections, whatever the caller does with theirs.
        self.sections = {"problem": copy.deepcopy(dict(problem)), "network": copy.deepcopy(dict(network))}
        ex, _ = _experiment.prepare(self._document({"stop": {"t_final": 1.0}}))
        info = _core.problem_info(ex)
        self.state_size = int(info["state_size"])
        self.blocks = [tuple(int(x) for x in b) for b in info["blocks"]]
        self.rows, self.cols, self.depth = int(info["rows"]), int(info["cols"]), int(info["depth"])

    def __repr__(self):
        return f"<dlnflow.Problem {self.sections['problem'].get('loss')!r}, blocks {self.blocks}>"

    def _document(self, options):
        unknown = set(options) - set(_OPTION_SECTIONS)
        if unknown:
            raise InputError(f"invalid options: unknown section(s) {sorted(unknown)}; "
                             f"the options are the sections {list(_OPTION_SECTIONS)} of the experiment file")
        # The initialization is the caller's (solve's initial_states); the schema requires one.
        doc = {"name": "arrays", **self.sections, "initialization": {"kind": "gaussian", "alpha": 1.0}}
        doc.update(options)
        return doc

    def pack(self, factors):
        """The state vector of a list of matrices (W_1 first), or of a batch: a list of such lists
        gives a (batch, state_size) array."""
        if len(factors) and isinstance(factors[0], (list, tuple)):
            return np.stack([self.pack(f) for f in factors])
        if len(factors) != len(self.blocks):
            raise InputError(f"invalid initial factors: {len(factors)} matrices, the problem has {len(self.blocks)}")
        parts = []
        for j, (M, shape) in enumerate(zip(factors, self.blocks)):
            M = np.asarray(M, dtype=np.float64)
            if M.shape != shape:
                raise InputError(f"invalid initial factors: matrix {j + 1} is {M.shape}, the problem needs {shape}")
            parts.append(M.ravel(order="F"))
        return np.concatenate(parts)

    def unpack(self, state):
        """The matrices of a state vector (W_1 first), or of each row of a (batch, state_size) array."""
        state = np.asarray(state, dtype=np.float64)
        if state.ndim == 2:
            return [self.unpack(s) for s in state]
        out, at = [], 0
        for r, c in self.blocks:
            out.append(state[at:at + r * c].reshape((r, c), order="F"))
            at += r * c
        return out


def solve(problem, initial_states, options=None, backend="auto", threads=None, progress=False):
    """Integrates the flow of ``problem`` from every initial state.

    Parameters
    ----------
    problem : Problem
    initial_states : array_like
        (batch, state_size) state vectors (:meth:`Problem.pack`), or one state vector.
    options : dict, optional
        The sections ``integrator``, ``stop``, ``record`` and ``events`` of the experiment schema,
        e.g. ``{"integrator": {"method": "dopri5", "rtol": 1e-10}, "stop": {"t_final": 50.0}}``.
    backend : {"auto", "cpu", "gpu"}

    Returns
    -------
    dict of NumPy arrays: ``final_state`` (batch, state_size), ``final_loss``, ``t_end``, ``steps``,
    ``rejected``, ``final_rank`` (batch), ``event_times`` (batch, events), ``time`` (T),
    ``loss``, ``grad_norm`` (batch, T), ``spectrum`` (batch, T, k); ``status`` and ``message``
    (lists of str); ``backend`` (where it ran).
    """
    if not isinstance(problem, Problem):
        raise TypeError("problem must be a dlnflow.Problem")
    from ._run import _backend

    _backend(backend)
    states = np.ascontiguousarray(np.asarray(initial_states, dtype=np.float64))
    if states.ndim == 1:
        states = states[None, :]
    if states.ndim != 2:
        raise InputError(f"invalid initial_states: an array of shape (batch, {problem.state_size}), got {states.shape}")
    ex, _ = _experiment.prepare(problem._document(dict(options or {})))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=states.shape[0], unit="traj")

    def tick(done, total):
        if done > bar.n:
            bar.update(done - bar.n)

    try:
        return _core.solve_states(ex, states, backend, int(threads or 0), tick if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
