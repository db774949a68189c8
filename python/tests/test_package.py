"""The Python package against the command and against closed forms (issue #16's tests)."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
import pytest
import tomli_w
import xarray as xr

import dlnflow
from conftest import ROOT


def write_toml(path, doc):
    with open(path, "wb") as fh:
        tomli_w.dump(doc, fh)
    return str(path)


def assert_same_results(a, b):
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    xr.testing.assert_identical(a.series, b.series)
    for p in range(len(a.series.point)):
        fa, fb = a.final_states(p), b.final_states(p)
        assert fa.keys() == fb.keys()
        for k in fa:
            np.testing.assert_array_equal(fa[k], fb[k])


def test_a_dict_and_its_toml_file_give_the_same_results(small, tmp_path):
    from_dict = dlnflow.run(small, progress=False)
    from_file = dlnflow.run(write_toml(tmp_path / "small.toml", small), progress=False)
    from_text = dlnflow.run(tomli_w.dumps(small), progress=False)
    assert_same_results(from_dict, from_file)
    assert_same_results(from_dict, from_text)
    # Not vacuous: both seeds and both scales ran, and escapes were found.
    assert len(from_dict.summary) == 6 and set(from_dict.summary["status"]) == {"completed"}
    assert np.isfinite(from_dict.events.values).all()


def test_the_error_classes_name_what_is_wrong(small, tmp_path):
    bad = dict(small, integrator=dict(small["integrator"], rtol=-1.0))
    with pytest.raises(dlnflow.InputError, match=r"integrator\.rtol"):
        dlnflow.run(bad, progress=False)
    typo = dict(small, integrator=dict(small["integrator"], rtoll=1e-9))
    with pytest.raises(dlnflow.InputError, match=r"rtoll.*rtol"):  # named, with the valid keys beside it
        dlnflow.check(typo)
    ev = [dict(e) for e in small["events"]]
    ev[1]["index"] = 9
    with pytest.raises(dlnflow.InputError, match=r"events\[2\]\.index"):
        dlnflow.check(dict(small, events=ev))
    path = write_toml(tmp_path / "bad.toml", bad)
    with pytest.raises(dlnflow.InputError, match=r"bad\.toml:\d+:\d+"):  # file:line:column for a file
        dlnflow.check(path)
    foreign = tmp_path / "not-ours"
    foreign.mkdir()
    (foreign / "data.txt").write_text("someone else's")
    with pytest.raises(dlnflow.UsageError, match="not-ours"):
        dlnflow.run(small, out=foreign, progress=False)
    assert (foreign / "data.txt").read_text() == "someone else's"  # nothing of theirs touched
    with pytest.raises(dlnflow.UsageError, match="resume"):
        dlnflow.run(small, out=tmp_path / "none", resume=True, progress=False)
    with pytest.raises(dlnflow.UsageError, match="backend"):
        dlnflow.run(small, backend="tpu", progress=False)
    if not dlnflow.gpu_available()[0]:  # as the command: a request this machine cannot carry out
        with pytest.raises(dlnflow.UsageError, match='backend="gpu"'):
            dlnflow.run(small, backend="gpu", progress=False)
    with pytest.raises(dlnflow.UsageError, match="manifest"):
        dlnflow.load(foreign)
    with pytest.raises(FileNotFoundError):
        dlnflow.run(str(tmp_path / "missing.toml"), progress=False)
    assert issubclass(dlnflow.InputError, ValueError) and issubclass(dlnflow.InputError, dlnflow.DlnflowError)


def test_errors_give_python_advice_and_name_the_key_path(small, tmp_path):
    # The engine's messages name the command's options; from Python they name run()'s arguments.
    out = tmp_path / "done"
    dlnflow.run(small, out=out, progress=False)
    with pytest.raises(dlnflow.UsageError) as err:
        dlnflow.run(small, out=out, progress=False)
    assert "resume=True" in str(err.value) and "overwrite=True" in str(err.value), str(err.value)
    assert "--" not in str(err.value), str(err.value)
    # What TOML cannot hold is an InputError naming where it is, not a serializer's TypeError.
    bad = dict(small, sweep=dict(small["sweep"], axes={"initialization.alpha": [1e-2, None]}))
    with pytest.raises(dlnflow.InputError, match=r"sweep\.axes\.initialization\.alpha\[1\]"):
        dlnflow.check(bad)
    with pytest.raises(dlnflow.InputError, match=r"stop\.t_final: 'object' is not a type"):
        dlnflow.check(dict(small, stop={"t_final": object()}))


def test_a_failure_while_running_is_a_run_error_and_the_folder_resumes(small, tmp_path):
    # A directory where trajectories.h5 is to be written (overwrite keeps what dlnflow did not
    # write): the run computes every chunk, then cannot place the file. RunError, [exit 3] of the
    # command; the checkpoints stay, and once the obstacle is gone resume writes the data files.
    out = tmp_path / "blocked"
    first = dlnflow.run(small, out=out, progress=False)
    (out / "trajectories.h5").unlink()
    (out / "trajectories.h5").mkdir()
    (out / "trajectories.h5" / "theirs.txt").write_text("not dlnflow's")
    with pytest.raises(dlnflow.RunError, match="trajectories.h5"):
        dlnflow.run(small, out=out, overwrite=True, progress=False)
    assert (out / "trajectories.h5" / "theirs.txt").read_text() == "not dlnflow's"
    (out / "trajectories.h5" / "theirs.txt").unlink()
    (out / "trajectories.h5").rmdir()
    resumed = dlnflow.run(small, out=out, resume=True, progress=False)
    assert resumed.complete
    assert_same_results(first, resumed)


def test_summary_columns_are_typed_by_the_experiment(small):
    # alpha = 1.0 and 2.0 are floats, though summary.csv writes them as 1 and 2; t_end is a float
    # though every trajectory ends at t_final = 1 exactly.
    ex = dict(small, stop={"t_final": 1.0}, events=[],
              sweep=dict(small["sweep"], axes={"initialization.alpha": [1.0, 2.0], "network.depth": [2, 3]}))
    res = dlnflow.run(ex, progress=False)
    s = res.summary
    assert list(s["t_end"]) == [1.0] * len(s) and s["t_end"].dtype == np.float64
    assert s["initialization.alpha"].dtype == np.float64, s.dtypes
    assert s["network.depth"].dtype == np.int64, s.dtypes
    assert res.series["initialization.alpha"].dtype == s["initialization.alpha"].dtype
    assert s["final_loss"].dtype == np.float64 and s["steps"].dtype == np.int64


def test_auto_says_why_it_ran_on_the_cpu(small):
    res = dlnflow.run(small, progress=False)  # backend="auto"
    usable, why = dlnflow.gpu_available()
    assert res.backend in ("cpu", "gpu")
    if not usable:  # a machine without a GPU: the command's reason, in the results
        assert res.backend == "cpu" and res.backend_reason == why and why
    assert (res.backend == "cpu") == (res.backend_reason is not None)
    assert dlnflow.run(small, backend="cpu", progress=False).backend_reason is None  # asked for: no fallback


def test_warnings_arrive_as_python_warnings(small):
    huge = dict(small, initialization=dict(small["initialization"], alpha=1e200), sweep={"seeds": 1})
    with pytest.warns(dlnflow.DlnflowWarning, match="initialization scale"):
        dlnflow.check(huge)


def test_run_then_load_and_in_memory_results_are_equal(small, tmp_path):
    out = tmp_path / "res"
    written = dlnflow.run(small, out=out, progress=False)
    loaded = dlnflow.load(out)
    in_memory = dlnflow.run(small, progress=False)
    assert written.path == str(out) and in_memory.path is None
    assert loaded.complete and loaded.manifest["trajectories"]["done"] == 6
    assert_same_results(written, loaded)
    assert_same_results(loaded, in_memory)
    # The series agree with the file they came from.
    with h5py.File(out / "trajectories.h5") as f:
        g = f["points/1"]
        np.testing.assert_array_equal(loaded.series["loss"].sel(point=1).values[g["seed"][()]], g["loss"][()])
    assert loaded.series["initialization.alpha"].values.tolist() == [1e-2, 1e-3]
    assert loaded.initial_states(0)["W1"].shape == (3, 3, 3)
    assert in_memory.axes == loaded.axes == ["initialization.alpha"]
    pd.testing.assert_frame_equal(in_memory.critical_points(1), loaded.critical_points(1))
    assert len(loaded.critical_points(1)) == 4  # the subsets of the target's two singular values
    # Every trajectory ends at the global minimum (catalogue point of the lowest loss).
    best = int(loaded.critical_points(0)["loss"].idxmin())
    assert (loaded.series["critical_nearest"].isel(time=-1) == best).all()
    long = loaded.long()
    assert len(long) == 2 * 3 * 13 and {"point", "trajectory", "time", "loss"} <= set(long.columns)


def test_matrices_of_a_folder_are_views_of_the_file_not_copies(small, tmp_path):
    res = dlnflow.run(small, out=tmp_path / "views", progress=False)
    loaded = dlnflow.load(tmp_path / "views")
    with h5py.File(tmp_path / "views" / "trajectories.h5", "r") as f:
        for p in range(2):
            for kind, got in (("final_state", loaded.final_states(p)), ("initial_state", loaded.initial_states(p))):
                assert set(got) == set(f["points"][str(p)][kind])
                for k, v in got.items():
                    assert isinstance(v.base, np.memmap) and not v.flags.writeable, (kind, k, type(v.base))
                    np.testing.assert_array_equal(v, f["points"][str(p)][kind][k][()])
    # In memory (the folder is gone) they are plain arrays, equal to the views.
    mem = dlnflow.run(small, progress=False).final_states(1)
    for k in mem:
        assert not isinstance(mem[k].base, np.memmap) and mem[k].flags.writeable
        np.testing.assert_array_equal(mem[k], res.final_states(1)[k])


def test_python_and_the_command_give_identical_numbers(small, tmp_path, cli):
    path = write_toml(tmp_path / "small.toml", small)
    subprocess.run([cli, "run", path, "--out", str(tmp_path / "cli"), "--quiet", "--backend", "cpu"], check=True)
    dlnflow.run(path, out=tmp_path / "py", backend="cpu", progress=False)
    a = (tmp_path / "cli" / "summary.csv").read_bytes()
    b = (tmp_path / "py" / "summary.csv").read_bytes()
    assert a == b
    with h5py.File(tmp_path / "cli" / "trajectories.h5") as fa, h5py.File(tmp_path / "py" / "trajectories.h5") as fb:
        seen = []

        def compare(name, obj):
            if isinstance(obj, h5py.Dataset):
                np.testing.assert_array_equal(obj[()], fb[name][()], err_msg=name)
                seen.append(name)

        fa.visititems(compare)
        others = []
        fb.visititems(lambda name, obj: others.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert sorted(seen) == sorted(others)
        for name in ["/"] + [f"points/{p}" for p in range(2)]:
            assert dict(fa[name].attrs).keys() == dict(fb[name].attrs).keys()
    assert "points/0/loss" in seen and "points/1/final_state/W3" in seen


def test_the_catalogue_agrees_with_the_command_and_the_saddle_rate_of_theory(tmp_path, cli):
    """dlnflow.catalog against `dlnflow catalog --json`, and the autoencoder saddle e2 e2^T's
    mu+ = (sqrt((l2 - l1)^2 + 4 l1^2) - (l1 + l2))/2 (docs/theory.md §6.5) in closed form; a run
    stores the same kinds and rates and Results.critical_points reads them back."""
    example = os.path.join(ROOT, "examples", "bah-riemannian", "saddle_escape_epsilon.toml")
    table = dlnflow.catalog(example)
    cmd = json.loads(subprocess.run([cli, "catalog", example, "--json"], check=True, capture_output=True,
                                    text=True).stdout)
    (group,) = cmd
    assert list(table["label"]) == [c["label"] for c in group["critical_points"]]
    assert list(table["kind"]) == [c["kind"] for c in group["critical_points"]]
    assert all(p == tuple(group["points"]) for p in table["points"])
    for row, c in zip(table.itertuples(), group["critical_points"]):
        np.testing.assert_array_equal(row.hessian_eigenvalues, c["hessian_eigenvalues"])
    mu = (math.sqrt((2 - 3) ** 2 + 4 * 3 ** 2) - (2 + 3)) / 2
    assert table.set_index("label").loc["J={2}", "rate"] == pytest.approx(mu, abs=1e-12)
    res = dlnflow.run(example, progress=False, backend="cpu")
    stored = res.critical_points(0)
    assert list(stored["kind"]) == list(table["kind"])
    np.testing.assert_array_equal(stored["rate"], table["rate"])
    with pytest.raises(dlnflow.InputError, match="no catalogue"):
        dlnflow.catalog(os.path.join(ROOT, "examples", "greedy-low-rank", "completion.toml"))


def test_points_follow_the_axes_as_written_and_the_file_lists_them_in_order(small, tmp_path):
    # depth written before alpha (alpha sorts first by name): alpha varies fastest; 12 points, so
    # that a listing by name (0, 1, 10, 11, 2, ...) would show.
    doc = dict(small, stop={"t_final": 1.0}, record={"grid": "uniform", "count": 2},
               sweep={"seeds": 1, "axes": {"network.depth": [2, 3, 4], "initialization.alpha": [1e-1, 1e-2, 1e-3, 1e-4]}})
    res = dlnflow.run(doc, out=tmp_path / "res", progress=False)
    assert res.axes == ["network.depth", "initialization.alpha"]
    assert res.summary["network.depth"].tolist() == [2] * 4 + [3] * 4 + [4] * 4
    assert res.summary["initialization.alpha"].tolist() == [1e-1, 1e-2, 1e-3, 1e-4] * 3
    with h5py.File(tmp_path / "res" / "trajectories.h5") as f:
        assert list(f["points"].keys()) == [str(i) for i in range(12)]
        depth = f["points/11"].attrs["network.depth"]
        assert np.issubdtype(np.asarray(depth).dtype, np.integer) and depth == 4
        assert np.asarray(f["points/11"].attrs["initialization.alpha"]).dtype == np.float64


def test_paired_axes_vary_together(small):
    doc = dict(small, stop={"t_final": 1.0}, record={"grid": "uniform", "count": 2},
               sweep={"seeds": 1, "axes": {"initialization.alpha": [1e-1, 1e-2]},
                      "zip": [{"network.depth": [2, 3, 4], "stop.t_final": [1.0, 2.0, 3.0]}]})
    res = dlnflow.run(doc, progress=False)
    s = res.summary
    assert len(s) == 6
    assert s["network.depth"].tolist() == [2, 3, 4, 2, 3, 4]
    assert (s["t_end"] == s["network.depth"] - 1.0).all()  # each depth ran to its own t_final
    assert res.manifest["experiment"]["sweep"]["zip"] == [["network.depth", "stop.t_final"]]


INTERRUPTED_RUN = r"""
import sys, dlnflow
doc = {doc!r}
try:
    dlnflow.run(doc, out=sys.argv[1], progress=True, threads=1)
except KeyboardInterrupt as e:
    print("interrupted:", e, flush=True)
    sys.exit(130)
print("finished", flush=True)
"""


def test_ctrl_c_stops_after_the_chunk_in_flight_and_the_folder_resumes(small, tmp_path):
    # 40 trajectories of about 0.1 s each, one per chunk.
    doc = dict(small, stop={"t_final": 2e4},
               sweep=dict(small["sweep"], seeds=4, axes={"initialization.alpha": [10.0 ** -k for k in range(2, 12)]}),
               run={"chunk_size": 1})
    out = tmp_path / "res"
    script = tmp_path / "run.py"
    script.write_text(INTERRUPTED_RUN.format(doc=doc))
    child = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 60
    while time.time() < deadline and child.poll() is None:  # a few chunks saved, then Ctrl-C
        if (out / "chunks").is_dir() and len(list((out / "chunks").glob("chunk-*"))) >= 3:
            break
        time.sleep(0.05)
    assert child.poll() is None, "the run finished before it could be interrupted: make it longer"
    child.send_signal(signal.SIGINT)  # twice, as an impatient user (or Jupyter's button) would
    time.sleep(0.25)
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    # 130 from the script; or killed by SIGINT when the second one landed after dlnflow had already
    # raised (the script was then in its own exit, and Python's default handler interrupts that).
    assert child.returncode in (130, -signal.SIGINT), (stdout, stderr)
    assert "interrupted" in stdout and "resume=True" in stdout, (stdout, stderr)
    partial = dlnflow.load(out)
    assert not partial.complete
    assert 3 <= partial.manifest["trajectories"]["done"] < 40
    resumed = dlnflow.run(doc, out=out, resume=True, progress=False)
    assert resumed.complete
    assert_same_results(resumed, dlnflow.run(doc, progress=False))


def test_the_arrays_layer_follows_the_logistic_closed_form(tmp_path):
    # Depth 2, diagonal target s, balanced diagonal start W1 = W2 = diag(sqrt(u0)): each diagonal
    # entry of W = W2 W1 follows u' = 2 u (s - u), u(t) = s / (1 + (s / u0 - 1) exp(-2 s t))
    # (docs/theory.md; the two-layer scalar flow of Saxe et al.), and the loss is 1/2 sum (u - s)^2.
    s, u0 = np.array([3.0, 1.0]), np.array([1e-3, 2e-3])
    problem = dlnflow.Problem(problem={"loss": "matrix_approximation", "target": {"generate": "diagonal",
                                                                                  "values": s.tolist()}},
                              network={"parametrization": "deep", "depth": 2, "width": 2})
    assert problem.state_size == 8 and problem.blocks == [(2, 2), (2, 2)]
    starts = []
    for scale in (1.0, 0.5):
        F = np.diag(np.sqrt(scale * u0))
        starts.append([F, F])
    y0 = problem.pack(starts)
    assert y0.shape == (2, 8)
    np.testing.assert_array_equal(problem.unpack(y0)[1][0], starts[1][0])
    options = {"integrator": {"method": "dopri5", "rtol": 1e-12, "atol": 1e-30}, "stop": {"t_final": 5.0},
               "record": {"grid": "uniform", "count": 6}}
    out = dlnflow.solve(problem, y0, options, backend="cpu")
    assert out["status"] == ["completed", "completed"] and out["backend"] == "cpu"
    times = out["time"]
    np.testing.assert_allclose(times, np.linspace(0, 5, 6))
    for b, scale in enumerate((1.0, 0.5)):
        u = s[None, :] / (1 + (s[None, :] / (scale * u0[None, :]) - 1) * np.exp(-2 * s[None, :] * times[:, None]))
        want_loss = 0.5 * ((u - s[None, :]) ** 2).sum(axis=1)
        np.testing.assert_allclose(out["loss"][b], want_loss, rtol=1e-9)
        np.testing.assert_allclose(out["spectrum"][b][:, :2], np.sort(u, axis=1)[:, ::-1], rtol=1e-9)
        W1, W2 = problem.unpack(out["final_state"][b])
        np.testing.assert_allclose(np.diag(W2 @ W1), u[-1], rtol=1e-9)
    with pytest.raises(dlnflow.InputError, match="state"):
        dlnflow.solve(problem, np.zeros((2, 5)), options)
    # Rectangular, non-symmetric factors: the state layout (column-major blocks, W1 first) against
    # the loss at t = 0, 1/2 ||W2 W1 - S||^2, and pack/unpack against each other.
    rect = dlnflow.Problem(problem={"loss": "matrix_approximation", "target": {"generate": "diagonal",
                                                                               "values": s.tolist()}},
                           network={"parametrization": "deep", "widths": [2, 3, 2]})
    assert rect.blocks == [(3, 2), (2, 3)]
    rng = np.random.default_rng(5)
    W1, W2 = rng.normal(size=(3, 2)), rng.normal(size=(2, 3))
    y = rect.pack([W1, W2])
    np.testing.assert_array_equal(y[:6], W1.ravel(order="F"))
    for got, want in zip(rect.unpack(y), (W1, W2)):
        np.testing.assert_array_equal(got, want)
    r0 = dlnflow.solve(rect, y, {"stop": {"t_final": 1e-3}, "record": {"grid": "uniform", "count": 2}})
    np.testing.assert_allclose(r0["loss"][0, 0], 0.5 * np.sum((W2 @ W1 - np.diag(s)) ** 2), rtol=1e-14)
    with pytest.raises(dlnflow.InputError, match="unknown section"):
        dlnflow.solve(problem, y0, {"integrater": {}})
    if not dlnflow.gpu_available()[0]:  # the library's solve(): a GpuError, as in C++
        with pytest.raises(dlnflow.GpuError):
            dlnflow.solve(problem, y0, options, backend="gpu")


def test_the_notebook_runs_start_to_finish(tmp_path):
    import nbformat  # the test extra (pip install .[test]); the test command installs it
    from nbclient import NotebookClient

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    nb = nbformat.read(os.path.join(root, "examples", "alpha_sweep.ipynb"), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "slope" in outputs
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_the_type_stub_matches_the_package():
    # The .pyi stub is what editors and type checkers see: every public name, every parameter.
    import ast
    import inspect

    tree = ast.parse(open(os.path.join(ROOT, "python", "dlnflow", "__init__.pyi")).read())
    stubbed = set()

    def params(node):
        a = node.args
        return [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            stubbed.add(node.name)
            real = getattr(dlnflow, node.name)
            assert params(node) == list(inspect.signature(real).parameters), node.name
        elif isinstance(node, ast.ClassDef):
            stubbed.add(node.name)
            cls = getattr(dlnflow, node.name)
            for item in node.body:
                if not isinstance(item, ast.FunctionDef):
                    continue
                real = inspect.getattr_static(cls, item.name)
                if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                    assert isinstance(real, property), f"{node.name}.{item.name}"
                else:
                    assert params(item) == list(inspect.signature(real).parameters), f"{node.name}.{item.name}"
        elif isinstance(node, ast.AnnAssign):
            stubbed.add(node.target.id)
    missing = set(dlnflow.__all__) - stubbed
    assert not missing, missing
    # and what the stub says a Results has, a Results has
    for prop in ("backend", "backend_reason", "complete", "series", "events"):
        assert isinstance(inspect.getattr_static(dlnflow.Results, prop), property), prop
