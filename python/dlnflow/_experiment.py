"""Experiments as the engine reads them: a dict with exactly the schema of the experiment file
(docs/experiment-file.md), a path to a TOML file, or TOML text."""
import datetime
import os
from collections.abc import Mapping

import numpy as np
import tomli_w

from . import _core
from ._errors import InputError


def _plain(value, where):
    """The dict with NumPy scalars and arrays turned into what TOML writes."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"experiment keys are strings; {where or 'the top level'} has {k!r}")
            if v is None:
                continue  # None: the key is left to its default
            out[k] = _plain(v, f"{where}.{k}" if where else k)
        return out
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if v is None:  # TOML has no null; in a dict None means "the default", in a list nothing
                raise InputError(f"<dict>: {where}[{i}]: None in a list (TOML has no null: leave the entry out)")
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if not isinstance(value, (str, bool, int, float, datetime.date, datetime.time)):
        raise InputError(f"<dict>: {where or 'the experiment'}: {type(value).__name__!r} is not a type the "
                         f"experiment file can hold (numbers, strings, booleans, lists, tables)")
    return value


def _looks_like_toml(text):
    if "\n" in text:
        return True
    return ("=" in text or text.lstrip().startswith("[")) and not text.rstrip().endswith(".toml")


def prepare(experiment):
    """The engine's parsed experiment (validated) and the TOML text it came from (None for a file)."""
    if isinstance(experiment, Mapping):
        try:
            text = tomli_w.dumps(_plain(experiment, ""))
        except InputError:
            raise
        except (TypeError, ValueError) as e:  # anything else TOML cannot hold
            raise InputError(f"<dict>: {e}") from None
        return _core.parse(text, "<dict>", os.getcwd()), text
    if isinstance(experiment, os.PathLike) or (isinstance(experiment, str) and (
            os.path.isfile(experiment) or not _looks_like_toml(experiment))):
        path = os.fspath(experiment)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no experiment file {path!r}")
        return _core.load(path), None
    if isinstance(experiment, str):
        return _core.parse(experiment, "<string>", os.getcwd()), experiment
    raise TypeError(f"an experiment is a dict, a path or TOML text, not {type(experiment).__name__}")


