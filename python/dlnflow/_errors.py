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


# The engine's messages are the command's: they name its options. From Python the same advice is
# a keyword argument of dlnflow.run, so the messages are reworded as they pass (one table here,
# one source of the messages in the engine).
_PYTHON_WORDING = (
    ("use --resume to continue it, --overwrite to replace it, or another --out",
     "use resume=True to continue it, overwrite=True to replace it, or another out="),
    ("give --out a folder that does not exist yet", "give out= a folder that does not exist yet"),
    ("; use another --out", "; use another out="),
    ("run it into a new --out folder", "run it into a new out= folder"),
    ("refusing to --overwrite ", "refusing to overwrite "),
    ("--backend gpu: ", 'backend="gpu": '),
    ("; use --backend cpu (or auto)", '; use backend="cpu" (or "auto")'),
    ("or add --force to run anyway", "or pass force=True to run anyway"),
)


def python_wording(message):
    """An engine message with the command's options replaced by dlnflow.run's arguments."""
    for cli, py in _PYTHON_WORDING:
        message = message.replace(cli, py)
    return message
