"""The errors dlnflow raises: the engine's own, under Python names (the command's exit codes in brackets)."""


class DlnflowError(Exception):
    """Base class of every error dlnflow raises."""


class InputError(DlnflowError, ValueError):
    """The experiment or an input is invalid [exit 2]. The message names the key path as the
    experiment is written (``integrator.rtol``, ``events[2].index``) and, for a file, its
    file:line:column."""


class UsageError(DlnflowError, RuntimeError):
    """A request that cannot be carried out as asked: the results folder exists, there is
    nothing to resume, the estimate exceeds the machine [exit 2]."""


class GpuError(DlnflowError, RuntimeError):
    """``backend="gpu"`` without a usable GPU, or a problem the GPU backend does not cover."""


class RunError(DlnflowError, RuntimeError):
    """A failure while running [exit 3]; finished chunks stay in their checkpoints (resume)."""


class DlnflowWarning(UserWarning):
    """Input that is valid but probably not what was meant (what ``dlnflow check`` prints as
    warnings)."""
