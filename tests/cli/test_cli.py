"""Integration tests of the dlnflow command: they run the built binary the way a user does.

Run by ctest (tests/CMakeLists.txt) with DLNFLOW_BIN and DLNFLOW_SOURCE_DIR set. Oracles:
the summary and the HDF5 file against each other and against the loss recomputed from the saved
final matrices; an uninterrupted run against an interrupted-and-resumed one; numpy's statistics
against `dlnflow stats`.
"""
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time

from clitest import (BASE, BIN, SRC, Workspace, assert_same_h5, dlnflow, gpu_present, h5_contents, h5py, main, np,
                     read_summary)

SWEEP = os.path.join(SRC, "tests", "cli", "sweep.toml")
TARGET = np.diag([3.0, 2.0, 1.0, 0.0])


class SweepResults(Workspace):
    def test_summary_agrees_with_trajectories_file_and_saved_matrices(self):
        out = self.path("sweep")
        r = dlnflow("run", SWEEP, "--out", out, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")  # --quiet prints nothing
        manifest = json.load(open(os.path.join(out, "manifest.json")))
        self.assertEqual(manifest["status"], "complete")
        self.assertEqual(len(manifest["chunks"]), 12)  # 6 points x ceil(5 / 3)
        self.assertEqual(manifest["experiment"]["sweep"]["axes"]["network.depth"], [2, 3])
        rows = read_summary(out)
        self.assertEqual(len(rows), 30)
        statuses = {row["status"] for row in rows}
        self.assertTrue({"diverged", "loss_converged"} <= statuses, statuses)
        with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
            names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["status_names"]]
            for row in rows:
                g = f["points"][row["point"]]
                s = int(row["seed"])
                self.assertEqual(g["seed"][s], s)
                self.assertEqual(float(row["initialization.alpha"]), g.attrs["initialization.alpha"])
                # An axis written with integers stays an integer in the file.
                self.assertTrue(np.issubdtype(np.asarray(g.attrs["network.depth"]).dtype, np.integer))
                self.assertEqual(int(row["network.depth"]), g.attrs["network.depth"])
                self.assertEqual(names[g["status"][s]], row["status"])
                for col, ds in (("t_end", "t_end"), ("final_loss", "final_loss")):
                    self.assertTrue(np.array_equal(float(row[col]), g[ds][s], equal_nan=True), col)
                self.assertEqual(int(row["final_rank"]), g["final_rank"][s])
                for e, name in enumerate(g["events"].attrs["names"]):
                    name = name.decode() if isinstance(name, bytes) else name
                    self.assertTrue(np.array_equal(float(row["t_" + name]), g["events/times"][s, e], equal_nan=True))
                if row["status"] == "diverged":
                    continue
                labels = g["critical_points"].attrs["labels"]
                label = labels[g["critical_points/final_nearest"][s]]
                self.assertEqual(row["critical_point"], label.decode() if isinstance(label, bytes) else label)
                # Oracle: the loss of the saved final factors, 1/2 ||W_N ... W_1 - target||^2.
                depth = int(row["network.depth"])
                W = np.eye(4)
                for j in range(1, depth + 1):
                    W = g[f"final_state/W{j}"][s] @ W
                loss = 0.5 * np.sum((W - TARGET) ** 2)
                self.assertAlmostEqual(loss, float(row["final_loss"]), delta=1e-12 + 1e-9 * loss)
                # Recorded grid: the last sample is at t_final unless the run stopped earlier.
                if row["status"] == "completed":
                    self.assertEqual(g["loss"][s, -1], float(row["final_loss"]))


class EndpointStates(Workspace):
    def test_saved_initial_states_replay_to_the_saved_final_states(self):
        """save_states = "endpoints": an independent numpy RK4 of the flow dW_j = -dL/dW_j, started
        from the saved initial factors, lands on the saved final factors (1e-12). A wrong initial
        state (another seed, another point's scale) would miss by O(1)."""
        toml = self.write("endpoints.toml", """
name = "endpoints"
[problem]
loss = "matrix_approximation"
target = [[3.0, 1.0, 0.0], [0.0, 2.0, 0.5], [0.0, 0.0, -1.0]]
[network]
depth = 3
width = 3
[initialization]
kind = "gaussian"
scale_on = "factors"
alpha = 0.5
[integrator]
method = "rk4"
dt = 0.01
[stop]
t_final = 0.5
[record]
save_states = "endpoints"
[sweep]
seeds = 5
seed = 11
axes.initialization.alpha = [0.3, 0.6]
[run]
chunk_size = 2
""")
        out = self.path("out")
        r = dlnflow("run", toml, "--out", out, "--quiet", "--backend", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        T = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 0.5], [0.0, 0.0, -1.0]])

        def rhs(ws):
            prefix = [ws[0]]
            for w in ws[1:]:
                prefix.append(w @ prefix[-1])
            back, out = prefix[-1] - T, [None] * len(ws)
            for j in range(len(ws) - 1, -1, -1):
                out[j] = -(back @ prefix[j - 1].T) if j > 0 else -back
                back = ws[j].T @ back
            return out

        with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
            starts = []
            for p in ("0", "1"):
                g = f["points"][p]
                self.assertEqual(g["initial_state/W1"].shape, (5, 3, 3))
                for s in range(5):
                    ws = [g[f"initial_state/W{j}"][s] for j in (1, 2, 3)]
                    starts.append(ws[0])
                    for _ in range(50):
                        k1 = rhs(ws)
                        k2 = rhs([w + 0.005 * k for w, k in zip(ws, k1)])
                        k3 = rhs([w + 0.005 * k for w, k in zip(ws, k2)])
                        k4 = rhs([w + 0.01 * k for w, k in zip(ws, k3)])
                        ws = [w + 0.01 / 6 * (a + 2 * b + 2 * c + e) for w, a, b, c, e in zip(ws, k1, k2, k3, k4)]
                    for j in (1, 2, 3):
                        np.testing.assert_allclose(g[f"final_state/W{j}"][s], ws[j - 1], rtol=0, atol=1e-12)
            # Common random numbers: point 1's start is point 0's scaled by 0.6 / 0.3.
            for s in range(5):
                np.testing.assert_allclose(starts[5 + s], 2.0 * starts[s], rtol=1e-14, atol=0)


class GpuRun(Workspace):
    def test_gpu_results_equal_cpu_results(self):
        """The command on the GPU: every number of summary.csv and trajectories.h5 within 1e-10
        (relative, absolute below 1) of the CPU run, statuses and ranks equal."""
        if not gpu_present():
            self.skipTest("no usable GPU (dlnflow info: GPU devices: 0)")
        cpu, gpu = self.path("cpu"), self.path("gpu")
        for out, backend in ((cpu, "cpu"), (gpu, "gpu")):
            r = dlnflow("run", SWEEP, "--out", out, "--quiet", "--backend", backend)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.load(open(os.path.join(gpu, "manifest.json")))["backend"], "gpu")
        rows_c, rows_g = read_summary(cpu), read_summary(gpu)
        self.assertEqual(len(rows_c), len(rows_g))
        for a, b in zip(rows_c, rows_g):
            for k in a:
                try:
                    x, y = float(a[k]), float(b[k])
                except ValueError:
                    self.assertEqual(a[k], b[k], k)
                    continue
                if math.isnan(x) or math.isnan(y):
                    self.assertTrue(math.isnan(x) and math.isnan(y), k)
                else:
                    self.assertLessEqual(abs(x - y), 1e-10 * max(1.0, abs(x)), k)
        ca, cg = h5_contents(os.path.join(cpu, "trajectories.h5")), h5_contents(os.path.join(gpu, "trajectories.h5"))
        self.assertEqual(sorted(ca), sorted(cg))
        for k in ca:
            va, vb = np.asarray(ca[k]), np.asarray(cg[k])
            if va.dtype.kind == "f":
                self.assertTrue(np.allclose(va, vb, rtol=1e-10, atol=1e-10, equal_nan=True), k)


class InterruptAndResume(Workspace):
    def test_resumed_run_equals_uninterrupted_run(self):
        ref, cut = self.path("ref"), self.path("cut")
        self.assertEqual(dlnflow("run", SWEEP, "--out", ref, "--quiet").returncode, 0)
        r = dlnflow("run", SWEEP, "--out", cut, "--stop-after-chunks", "5")
        self.assertEqual(r.returncode, 130, r.stderr)
        self.assertIn("--resume", r.stderr)
        manifest = json.load(open(os.path.join(cut, "manifest.json")))
        self.assertEqual(manifest["status"], "incomplete")
        self.assertEqual(len(manifest["chunks"]), 5)
        self.assertEqual(len(read_summary(cut)), 3 + 2 + 3 + 2 + 3)  # what was done is written
        with h5py.File(os.path.join(cut, "trajectories.h5")) as f:
            self.assertEqual(f.attrs["status"], "incomplete")
        r = dlnflow("run", SWEEP, "--out", cut, "--resume", "--threads", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("13 of 30 trajectories already done", r.stderr)
        self.assertEqual(open(os.path.join(ref, "summary.csv")).read(), open(os.path.join(cut, "summary.csv")).read())
        assert_same_h5(self, os.path.join(ref, "trajectories.h5"), os.path.join(cut, "trajectories.h5"))
        manifest = json.load(open(os.path.join(cut, "manifest.json")))
        self.assertEqual(manifest["status"], "complete")
        self.assertEqual(len(manifest["sessions"]), 2)
        self.assertFalse(os.path.exists(os.path.join(cut, "chunks")))
        # Resuming a complete folder does nothing; resuming with another experiment is refused.
        r = dlnflow("run", SWEEP, "--out", cut, "--resume")
        self.assertEqual(r.returncode, 0)
        self.assertIn("already complete", r.stderr)
        other = self.write("other.toml", open(SWEEP).read().replace("seed = 7", "seed = 8"))
        r = dlnflow("run", other, "--out", ref, "--resume")
        self.assertEqual(r.returncode, 2)
        self.assertIn("differs from the one that started it", r.stderr)

    def start_and_wait_for_a_checkpoint(self, experiment, out):
        p = subprocess.Popen([BIN, "run", experiment, "--out", out, "--threads", "1"], stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:  # the first checkpoint marks a run under way
            chunks = os.path.join(out, "chunks")
            if os.path.isdir(chunks) and any(f.endswith(".bin") for f in os.listdir(chunks)):
                break
            time.sleep(0.005)
        return p

    def longer_run(self):
        longer = self.write("long.toml", open(SWEEP).read().replace("seeds = 5", "seeds = 60").replace(
            "chunk_size = 3", "chunk_size = 2"))
        ref = self.path("ref")
        self.assertEqual(dlnflow("run", longer, "--out", ref, "--quiet").returncode, 0)
        return longer, ref

    def test_killed_run_resumes_from_its_checkpoints(self):
        longer, ref = self.longer_run()
        cut = self.path("cut")
        p = self.start_and_wait_for_a_checkpoint(longer, cut)
        p.kill()  # SIGKILL: no chance to write anything more
        p.communicate(timeout=60)
        self.assertEqual(json.load(open(os.path.join(cut, "manifest.json")))["status"], "incomplete")
        r = dlnflow("run", longer, "--out", cut, "--resume")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("trajectories already done", r.stderr)
        self.assertEqual(open(os.path.join(ref, "summary.csv")).read(), open(os.path.join(cut, "summary.csv")).read())
        assert_same_h5(self, os.path.join(ref, "trajectories.h5"), os.path.join(cut, "trajectories.h5"))

    def test_sigint_finishes_the_chunk_and_resume_completes_it(self):
        longer, ref = self.longer_run()
        cut = self.path("cut")
        manifest = os.path.join(cut, "manifest.json")
        p = self.start_and_wait_for_a_checkpoint(longer, cut)
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=120)[1]
        self.assertEqual(p.returncode, 130, err)
        m = json.load(open(manifest))
        self.assertEqual(m["status"], "incomplete")
        done = sum(c["count"] for c in m["chunks"])
        self.assertLess(done, 360)
        self.assertEqual(len(read_summary(cut)), done)
        r = dlnflow("run", longer, "--out", cut, "--resume", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(open(os.path.join(ref, "summary.csv")).read(), open(os.path.join(cut, "summary.csv")).read())
        assert_same_h5(self, os.path.join(ref, "trajectories.h5"), os.path.join(cut, "trajectories.h5"))




class BadInput(Workspace):
    def expect_refusal(self, text, message, *extra):
        exp = self.write("bad.toml", text)
        out = self.path("out")
        r = dlnflow("run", exp, "--out", out, *extra)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(message, r.stderr)
        self.assertFalse(os.path.exists(out), "a refused run must leave no results folder")
        self.assertEqual(os.listdir(self.tmp), ["bad.toml"])
        return r.stderr

    def test_the_base_file_is_valid(self):
        exp = self.write("ok.toml", BASE)
        self.assertEqual(dlnflow("run", exp, "--out", self.path("out"), "--quiet").returncode, 0)

    def test_toml_syntax_error_gives_line_and_column(self):
        self.expect_refusal(BASE.replace("depth = 2", "depth = = 2"), "bad.toml:6:9: TOML syntax error")

    def test_unknown_key_suggests_the_nearest(self):
        err = self.expect_refusal(BASE.replace("dt = 0.01", "dt = 0.01\nmax_step = 10"), "integrator.max_step: unknown key")
        self.assertIn("did you mean 'max_steps'?", err)
        self.assertIn("bad.toml:12:12", err)

    def test_invalid_value_names_the_accepted_range(self):
        self.expect_refusal(BASE.replace("dt = 0.01", "dt = -0.01"), "integrator.dt: must be > 0 (got -0.01)")
        self.expect_refusal(BASE.replace('method = "rk4"', 'method = "rk45"'),
                            "must be one of euler, rk4, dopri5, rodas5p, auto (got 'rk45')")
        self.expect_refusal(BASE + "[[events]]\nkind = \"singular_value\"\nindex = 3\nlevel = 1.0\n",
                            "events[1].index: must be in [1, 2] (got 3)")

    def test_command_line_choices_name_the_accepted_values(self):
        exp = self.write("ok.toml", BASE)
        for flag, bad, names in (("--backend", "fpga", "auto,cpu,gpu"), ("--backend", "1", "auto,cpu,gpu"),
                                 ("--gpu-path", "fast", "auto,fused,batched"), ("--gpu-team", "grid", "auto,warp,block")):
            r = dlnflow("run", exp, "--out", self.path("out"), flag, bad)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(f"{bad} not in {{{names}}}", r.stderr)
            self.assertFalse(os.path.exists(self.path("out")))

    def test_missing_data_file_is_named(self):
        self.expect_refusal(BASE.replace("[[3.0, 0.0], [0.0, 1.0]]", '"data/target.npy"'),
                            "data/target.npy' does not exist")

    def test_dimension_mismatch_is_explained(self):
        self.expect_refusal(BASE.replace("depth = 2", "widths = [2, 5, 3]"),
                            "last entry (output width) is 3, the loss needs 2")

    def test_gpu_backend_without_a_device_is_refused_and_auto_falls_back(self):
        if gpu_present():
            self.skipTest("a GPU is present: the refusal is not reachable (GpuRun covers this machine)")
        self.expect_refusal(BASE, "--backend gpu: ", "--backend", "gpu")
        exp = self.write("ok2.toml", BASE)
        r = dlnflow("run", exp, "--out", self.path("auto"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dlnflow: running on the CPU: ", r.stderr)
        self.assertEqual(json.load(open(self.path("auto", "manifest.json")))["backend"], "cpu")

    def test_usage_errors_exit_2(self):
        self.assertEqual(dlnflow().returncode, 2)
        self.assertEqual(dlnflow("run").returncode, 2)
        self.assertEqual(dlnflow("run", self.path("nope.toml")).returncode, 2)
        self.assertEqual(dlnflow("frobnicate").returncode, 2)
        self.assertEqual(dlnflow("--help").returncode, 0)
        exp = self.write("ok.toml", BASE)
        os.mkdir(self.path("taken"))
        open(self.path("taken", "keep.txt"), "w").write("mine")
        r = dlnflow("run", exp, "--out", self.path("taken"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("already exists", r.stderr)
        r = dlnflow("run", exp, "--out", self.path("taken"), "--overwrite")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a dlnflow results folder", r.stderr)
        self.assertEqual(os.listdir(self.path("taken")), ["keep.txt"])
        r = dlnflow("run", exp, "--out", self.path("never"), "--resume")
        self.assertEqual(r.returncode, 2)
        self.assertIn("nothing to resume", r.stderr)


ESCAPES = """
name = "escapes"
[problem]
loss = "matrix_approximation"
target = { generate = "diagonal", values = [1.0], size = 3 }
[network]
parametrization = "deep"
depth = 3
width = 3
[initialization]
kind = "gaussian"
alpha = 1e-4
scale_on = "end_to_end"
[integrator]
rtol = 1e-9
atol = 1e-30
[stop]
t_final = 1e6
[[events]]
name = "escape"
kind = "singular_value"
index = 1
level = 0.5
crossing = "up"
terminal = true
[[events]]
name = "never"
kind = "loss"
level = -1.0
crossing = "down"
[sweep]
seeds = 6
seed = 3
axes."initialization.alpha" = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8]
"""


class StatsFits(Workspace):
    def test_the_escape_law_is_fitted_with_an_interval_and_set_beside_the_theory(self):
        path = self.path("escapes.toml")
        with open(path, "w") as fh:
            fh.write(ESCAPES)
        out = self.path("escapes")
        r = dlnflow("run", path, "--out", out, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = dlnflow("stats", out, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        rows = read_summary(out)
        # The fit, recomputed here: least squares of ln(median t) against ln(1/alpha) (numpy).
        alphas = sorted({float(row["initialization.alpha"]) for row in rows}, reverse=True)
        medians = [np.median([float(row["t_escape"]) for row in rows if float(row["initialization.alpha"]) == a])
                   for a in alphas]
        want = np.polyfit(np.log(1 / np.array(alphas)), np.log(medians), 1)[0]
        fits = [f for f in st["fits"] if f["event"] == "escape"]
        self.assertEqual(len(fits), 1)
        f = fits[0]
        self.assertEqual((f["axis"], f["law"], f["depth"], f["points"]), ("initialization.alpha", "power", 3, 5))
        self.assertAlmostEqual(f["slope"], want, delta=1e-12)
        self.assertLessEqual(f["interval"][0], f["slope"])
        self.assertGreaterEqual(f["interval"][1], f["slope"])
        # Bah et al.: at depth 3 the escape time grows like alpha^-(1 - 2/3).
        self.assertAlmostEqual(f["theory"], 1 / 3, delta=1e-15)
        self.assertAlmostEqual(f["slope"], 1 / 3, delta=0.02)
        # Why the other event has no times: every trajectory stopped first on the terminal escape.
        for p in st["points"]:
            self.assertEqual(p["statuses"], {"event_stop": 6})
            self.assertEqual(p["quantities"]["t_never"]["missing"],
                             {"not_reached": 0, "stopped_earlier": 6, "diverged_or_failed": 0})
            self.assertEqual(p["quantities"]["t_escape"]["n"], 6)
        table = dlnflow("stats", out)
        self.assertIn("theory 1 - 2/N = 0.3333 (N = 3)", table.stdout)
        self.assertIn("ended: 6 event_stop", table.stdout)

    def test_fits_recover_a_known_slope_from_synthetic_event_times(self):
        """summary.csv rewritten with t = 3 (1/alpha)^0.4: the fitted exponent is 0.4 to rounding;
        with multiplicative noise the bootstrap interval covers it as a 90% interval should."""
        path = self.path("escapes.toml")
        with open(path, "w") as fh:
            fh.write(ESCAPES)
        out = self.path("synthetic")
        self.assertEqual(dlnflow("run", path, "--out", out, "--quiet").returncode, 0)
        with open(os.path.join(out, "summary.csv"), newline="") as fh:
            rows = list(csv.DictReader(fh))
        fields = list(rows[0].keys())
        rng = np.random.default_rng(7)

        def fit(noise):
            for row in rows:
                a = float(row["initialization.alpha"])
                row["t_escape"] = repr(3 * (1 / a) ** 0.4 * math.exp(noise * rng.standard_normal()))
            with open(os.path.join(out, "summary.csv"), "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
                w.writeheader()
                w.writerows(rows)
            (f,) = [f for f in json.loads(dlnflow("stats", out, "--json").stdout)["fits"] if f["event"] == "escape"]
            return f

        f = fit(0.0)
        self.assertAlmostEqual(f["slope"], 0.4, delta=1e-12)
        self.assertAlmostEqual(f["interval"][0], 0.4, delta=1e-12)
        # With noise the 90% interval is a statistical statement: over 40 realisations it covers
        # 0.4 most of the time (a bootstrap of 6-value medians undercovers somewhat), and the
        # slopes scatter around 0.4 without bias.
        fits = [fit(0.05) for _ in range(40)]
        covered = sum(f["interval"][0] <= 0.4 <= f["interval"][1] for f in fits)
        self.assertGreaterEqual(covered, 24, [f["interval"] for f in fits])
        self.assertAlmostEqual(np.mean([f["slope"] for f in fits]), 0.4, delta=0.005)

    def test_escape_from_a_catalogued_saddle_is_fitted_against_ln_1_over_eps_beside_1_over_lambda_plus(self):
        """examples/bah-riemannian/saddle_escape_epsilon.toml: the theory slope comes from the
        catalogue's Hessian at the start point, mu+ of docs/theory.md §6.5 in closed form."""
        out = self.path("eps")
        r = dlnflow("run", os.path.join(SRC, "examples/bah-riemannian/saddle_escape_epsilon.toml"), "--out", out, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(dlnflow("stats", out, "--json").stdout)
        rows = read_summary(out)
        eps = sorted({float(row["initialization.epsilon"]) for row in rows}, reverse=True)
        medians = [np.median([float(row["t_escape"]) for row in rows if float(row["initialization.epsilon"]) == e])
                   for e in eps]
        want = np.polyfit(np.log(1 / np.array(eps)), medians, 1)[0]  # linear in ln(1/eps)
        (f,) = [f for f in st["fits"] if f["event"] == "escape"]
        self.assertEqual((f["axis"], f["law"], f["points"]), ("initialization.epsilon", "escape", 5))
        self.assertAlmostEqual(f["slope"], want, delta=1e-12)
        mu = (np.sqrt((2 - 3) ** 2 + 4 * 3 ** 2) - (2 + 3)) / 2
        self.assertAlmostEqual(f["theory"], 1 / mu, delta=1e-9)
        self.assertLessEqual(f["interval"][0], 1 / mu)
        self.assertGreaterEqual(f["interval"][1], 1 / mu)
        # The median's bootstrap interval: around the median, inside the 10-90% range (n = 32), and
        # a point for a sample constant to roundoff (every final loss is the minimum's 1.5).
        for p in st["points"]:
            q = p["quantities"]["t_escape"]
            lo, hi = q["median_interval"]
            self.assertTrue(q["q10"] <= lo <= q["median"] <= hi <= q["q90"], q)
            fl = p["quantities"]["final_loss"]
            for bound in fl["median_interval"] + fl["q10_interval"] + fl["q90_interval"]:
                self.assertAlmostEqual(bound, 1.5, delta=1e-12)
            # The quantiles' intervals are ordered as the quantiles are.
            self.assertLessEqual(q["q10_interval"][0], q["median_interval"][0])
            self.assertLessEqual(q["median_interval"][1], q["q90_interval"][1])
        # Every trajectory ends at the minimum, and stats says it is one.
        self.assertEqual(st["points"][0]["ends_kind"], {"J={1}": "minimum"})
        self.assertIn("32 at J={1} (minimum)", dlnflow("stats", out).stdout)


MATRIX_EVENTS = """name = "matrix-events"
[problem]
loss = "matrix_approximation"
target = [[2.0, 0.0], [0.0, 1.0]]
[network]
widths = [2, 2]
[initialization]
kind = "identity"
alpha = 1e-3
[integrator]
method = "dopri5"
rtol = 1e-12
atol = 1e-14
[stop]
t_final = 12.0
[[events]]
name = "half_sigma2"
kind = "singular_value"
index = 2
level = { of = "target.sigma2", times = 0.5 }
crossing = "up"
[[events]]
name = "near_target"
kind = "distance"
matrix = [[2.0, 0.0], [0.0, 1.0]]
level = 0.01
crossing = "down"
[[events]]
name = "trace"
kind = "linear"
matrix = [[1.0, 0.0], [0.0, 1.0]]
level = { of = "initialization.alpha", times = 100, plus = 0.5 }
crossing = "up"
[sweep]
axes."initialization.alpha" = [1e-3, 1e-2]
"""


class MatrixEventsAndLevels(Workspace):
    def test_linear_distance_and_derived_levels_at_their_closed_form_times(self):
        """Depth 1 from alpha I towards Z = diag(2, 1): W(t) = Z + (alpha I - Z) e^-t."""
        out = self.path("m")
        r = dlnflow("run", self.write("m.toml", MATRIX_EVENTS), "--out", out, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        for row in read_summary(out):
            a = float(row["initialization.alpha"])
            # sigma2 = 1 + (a - 1) e^-t reaches half of Z's sigma2 = 1: e^-t = 0.5 / (1 - a).
            self.assertAlmostEqual(float(row["t_half_sigma2"]), math.log((1 - a) / 0.5), delta=1e-9)
            # ||W - Z|| = ||a I - Z|| e^-t falls to 0.01.
            self.assertAlmostEqual(float(row["t_near_target"]), math.log(math.hypot(a - 2, a - 1) / 0.01), delta=1e-9)
            # tr W = 3 + (2a - 3) e^-t rises to 100 a + 0.5.
            self.assertAlmostEqual(float(row["t_trace"]), math.log((3 - 2 * a) / (3 - 100 * a - 0.5)), delta=1e-9)

    def test_bad_matrices_and_levels_are_named_where_written(self):
        cases = {
            'matrix = [[1.0, 0.0], [0.0, 1.0]]\nlevel = { of = "initialization.alpha", times = 100, plus = 0.5 }':
                ('matrix = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]\nlevel = 1.0', "events[3].matrix: is 2x3; W is 2x2"),
            'level = { of = "target.sigma2", times = 0.5 }':
                ('level = { of = "target.sigma7" }', "target.sigma7: the target has 2 singular values"),
            'level = 0.01':
                ('level = { of = "stop.nothing" }', "'stop.nothing' is neither a number in this experiment"),
        }
        for old, (new, message) in cases.items():
            r = dlnflow("check", self.write("bad.toml", MATRIX_EVENTS.replace(old, new)))
            self.assertEqual(r.returncode, 2, new)
            self.assertIn(message, r.stderr)
            self.assertIn("bad.toml:", r.stderr)


class PlotData(Workspace):
    def test_the_escape_figure_draws_the_medians_the_fit_and_the_saddle_theory_in_facets(self):
        """Three swept keys (epsilon, rtol, X): a row of panels per X, a series per rtol; the drawn
        medians are numpy's of summary.csv, the theory line has the slope 1/mu+ of each X's saddle
        (docs/theory.md §6.5), checked from the data --data writes, not the pixels."""
        text = open(os.path.join(SRC, "examples/bah-riemannian/saddle_escape_epsilon.toml")).read()
        x2 = "[[2.0, 0.0, 0.0], [0.0, 1.4142135623730951, 0.0], [0.0, 0.0, 1.0]]"
        x1 = "[[1.7320508075688772, 0.0, 0.0], [0.0, 1.4142135623730951, 0.0], [0.0, 0.0, 1.0]]"
        text = text.replace("seeds = 32", f'seeds = 8\naxes."integrator.rtol" = [1e-10, 1e-9]\naxes."problem.X" = [{x1}, {x2}]')
        out = self.path("three")
        r = dlnflow("run", self.write("three.toml", text), "--out", out, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        data_file = self.path("drawn.json")
        r = dlnflow("plot", out, "--data", data_file)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")  # no warnings
        panels = json.load(open(data_file))["escape"]
        self.assertEqual(len(panels), 2)  # one per X
        rows = read_summary(out)
        for panel, (x, l1) in zip(panels, ((x1, 3.0), (x2, 4.0))):
            self.assertTrue(panel["title"].startswith("X = "), panel["title"])
            self.assertEqual((panel["xscale"], panel["yscale"]), ("log", "linear"))
            mu = (math.sqrt((2 - l1) ** 2 + 4 * l1 ** 2) - (l1 + 2)) / 2
            xc = x.replace(" ", "").replace(".0,", ",").replace(".0]", "]")
            for rtol in ("1e-10", "1e-09"):
                mine = [row for row in rows if row["integrator.rtol"] == rtol and
                        row["problem.X"].replace(" ", "").replace(".0,", ",").replace(".0]", "]") == xc]
                eps = sorted({float(row["initialization.epsilon"]) for row in mine}, reverse=True)
                want = [np.median([float(row["t_escape"]) for row in mine if float(row["initialization.epsilon"]) == e])
                        for e in eps]
                (dots,) = [ln for ln in panel["lines"] if ln["label"] == f"rtol={rtol}"]
                np.testing.assert_allclose(dots["x"], [1 / e for e in eps], rtol=1e-12)
                np.testing.assert_allclose(dots["y"], want, rtol=1e-12)
            theory = [ln for ln in panel["lines"] if ln["label"].startswith("theory 1/lambda+")]
            self.assertEqual(len(theory), 2)
            for ln in theory:
                slope = (ln["y"][-1] - ln["y"][0]) / math.log(ln["x"][-1] / ln["x"][0])
                self.assertAlmostEqual(slope, 1 / mu, delta=1e-9)

    def test_the_examples_the_validation_does_not_run_plot_without_warnings(self):
        """scripts/validate.py draws every results folder of its studies; these two examples are in
        none of them."""
        for example in ("quickstart.toml", "bures-wasserstein/saddle_escape.toml"):
            out = self.path(example.replace("/", "_"))
            r = dlnflow("run", os.path.join(SRC, "examples", example), "--out", out, "--quiet")
            self.assertEqual(r.returncode, 0, r.stderr)
            r = dlnflow("plot", out, "--data", os.path.join(out, "drawn.json"))
            self.assertEqual((r.returncode, r.stderr), (0, ""), example)
            self.assertIn("loss", json.load(open(os.path.join(out, "drawn.json"))))


class Catalog(Workspace):
    def test_every_point_is_listed_with_its_kind_and_the_file_stores_the_same(self):
        example = os.path.join(SRC, "examples/bures-wasserstein/critical_values_tau.toml")
        r = dlnflow("catalog", example)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [line.split() for line in r.stdout.splitlines() if line.strip().split(" ")[0].isdigit()]
        self.assertEqual(len(rows), 16)  # never truncated (check used to cut at 24)
        j = json.loads(dlnflow("catalog", example, "--json").stdout)
        self.assertEqual(len(j), 1)
        pts = j[0]["critical_points"]
        self.assertEqual([p["label"] for p in pts], [row[1] for row in rows])
        # [BW] Thm 4.4 / Prop D.8 with docs/theory.md §6.6: one minimum (all four modes), the greedy
        # sets J = {1..k} non-strict saddles of order 2N = 4, every other set a strict saddle.
        greedy = {"J={}", "J={1}", "J={1,2}", "J={1,2,3}"}
        for p in pts:
            want = ("minimum" if p["label"] == "J={1,2,3,4}" else "non-strict saddle" if p["label"] in greedy
                    else "strict saddle")
            self.assertEqual(p["kind"], want, p["label"])
            self.assertEqual(p["order"], 4 if want == "non-strict saddle" else 0)
        # The Hessian's counts add up to the parameters, and its rate is minus its least eigenvalue.
        for p in pts:
            self.assertEqual(p["hessian_negative"] + p["hessian_zero"] + p["hessian_positive"], j[0]["parameters"])
            if p["kind"] == "strict saddle":
                self.assertAlmostEqual(p["rate"], -min(p["hessian_eigenvalues"]), delta=1e-12)
                self.assertAlmostEqual(p["escape_slope"], 1 / p["rate"], delta=1e-12)
        out = self.path("cv")
        self.assertEqual(dlnflow("run", example, "--out", out, "--quiet").returncode, 0)
        with h5py.File(os.path.join(out, "trajectories.h5")) as f:
            cp = f["points/0/critical_points"]
            kinds = [k.decode() if isinstance(k, bytes) else k for k in cp.attrs["kinds"]]
            self.assertEqual(kinds, [p["kind"] for p in pts])
            self.assertEqual(list(cp["hessian_negative"][()]), [p["hessian_negative"] for p in pts])
            np.testing.assert_array_equal(cp["rate"][()], [p["rate"] for p in pts])

    def test_a_loss_without_a_catalogue_is_refused(self):
        exp = self.write("s.toml", BASE)  # the square loss: a catalogue
        r = dlnflow("catalog", os.path.join(SRC, "examples/greedy-low-rank/completion.toml"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("no catalogue", r.stderr)
        self.assertEqual(dlnflow("catalog", exp).returncode, 0)


class StatsPlotCheckInfo(Workspace):
    @classmethod
    def setUpClass(cls):
        cls.results = tempfile.mkdtemp(prefix="dlnflow-stats-")
        shutil.rmtree(cls.results)
        r = dlnflow("run", SWEEP, "--out", cls.results, "--quiet")
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.results, ignore_errors=True)

    def test_stats_match_numpy_on_the_summary(self):
        r = dlnflow("stats", self.results, "--csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        stats = list(csv.DictReader(r.stdout.splitlines()))
        rows = read_summary(self.results)
        self.assertEqual(len(stats), 6)
        for st in stats:
            mine = [row for row in rows if row["point"] == st["point"]]
            self.assertEqual(int(st["count"]), len(mine))
            conv = np.mean([row["status"] in ("loss_converged", "grad_converged") for row in mine])
            div = np.mean([row["status"] == "diverged" for row in mine])
            self.assertAlmostEqual(float(st["converged"]), conv, places=15)
            self.assertAlmostEqual(float(st["diverged"]), div, places=15)
            for q in ("final_loss", "t_escape1", "t_loss_down"):
                v = np.array([float(row[q]) for row in mine])
                v = v[np.isfinite(v)]
                self.assertEqual(int(st[q + "_n"]), len(v))
                if len(v) == 0:
                    self.assertTrue(math.isnan(float(st[q + "_mean"])))
                    continue
                for name, want in (("mean", v.mean()), ("median", np.median(v)),
                                   ("q10", np.quantile(v, 0.1)), ("q90", np.quantile(v, 0.9))):
                    self.assertAlmostEqual(float(st[f"{q}_{name}"]), want, delta=1e-13 * abs(want) + 1e-300,
                                           msg=f"point {st['point']} {q} {name}")
        st = json.loads(dlnflow("stats", self.results, "--json").stdout)
        for p in st["points"]:  # where trajectories end: the summary's critical_point column, counted
            mine = [row["critical_point"] for row in rows if row["point"] == str(p["point"]) and row["critical_point"] not in ("", "nan")]
            self.assertEqual(p["ends_nearest"], {label: mine.count(label) for label in set(mine)})
        self.assertTrue(any(p["ends_nearest"] for p in st["points"]))
        table = dlnflow("stats", self.results)
        self.assertEqual(table.returncode, 0)
        self.assertIn("point 5: initialization.alpha = 1000, network.depth = 3", table.stdout)
        self.assertEqual(dlnflow("stats", self.path("nothing")).returncode, 2)

    def test_plot_writes_png_figures(self):
        out = self.path("plots")
        r = dlnflow("plot", self.results, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The swept scale (alpha over 1e-3 .. 1e3) gives the escape figure; every point is drawn.
        for name in ("escape.png", "loss.png", "singular_values.png", "event_times.png", "timeline.png", "sweep.png"):
            with open(os.path.join(out, name), "rb") as f:
                data = f.read()
            self.assertTrue(data.startswith(b"\x89PNG\r\n\x1a\n"), name)
            self.assertGreater(len(data), 5000, name)
        vec = self.path("vector")
        r = dlnflow("plot", self.results, "--out", vec, "--format", "pdf,svg")
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("escape", "loss", "event_times"):
            self.assertTrue(open(os.path.join(vec, name + ".pdf"), "rb").read(5) == b"%PDF-", name)
            self.assertIn(b"<svg", open(os.path.join(vec, name + ".svg"), "rb").read(4096), name)
        self.assertEqual(dlnflow("plot", self.results, "--format", "jpg").returncode, 2)

    def test_export_writes_the_series_in_long_format(self):
        out = self.path("long.csv")
        r = dlnflow("export", self.results, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.DictReader(open(out)))
        summary = read_summary(self.results)
        self.assertEqual(list(rows[0].keys())[:5], ["point", "initialization.alpha", "network.depth", "seed", "trajectory"])
        with h5py.File(os.path.join(self.results, "trajectories.h5"), "r") as f:
            want = 0
            for row in summary:  # every recorded sample of every trajectory, none after it stopped
                g = f["points"][row["point"]]
                s = int(row["seed"])
                want += int(np.sum(g["rank"][s] != -1))
            self.assertEqual(len(rows), want)
            for row in rows[:: max(1, len(rows) // 50)]:
                g = f["points"][row["point"]]
                s = int(row["seed"])
                k = int(np.argmin(np.abs(g["time"][:] - float(row["time"]))))
                self.assertEqual(float(row["time"]), g["time"][k])
                self.assertTrue(np.array_equal(float(row["loss"]), g["loss"][s, k], equal_nan=True))
                self.assertTrue(np.array_equal(float(row["sigma1"]), g["spectrum"][s, k, 0], equal_nan=True))
                self.assertEqual(int(row["rank"]), g["rank"][s, k])
        self.assertEqual(dlnflow("export", self.path("nothing")).returncode, 2)

    def test_check_prints_the_expanded_sweep_and_every_example_is_valid(self):
        r = dlnflow("check", SWEEP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("6 point(s) x 5 seed(s) = 30 trajectories, in 12 chunk(s)", r.stdout)
        self.assertIn("point 5: initialization.alpha = 1000 network.depth = 3", r.stdout)
        self.assertIn("3000 steps per trajectory", r.stdout)
        examples = []
        for root, _, files in os.walk(os.path.join(SRC, "examples")):
            examples += [os.path.join(root, f) for f in files if f.endswith(".toml")]
        self.assertGreaterEqual(len(examples), 5)
        for e in examples:
            r = dlnflow("check", e)
            self.assertEqual(r.returncode, 0, f"{e}: {r.stderr}")

    def test_info_names_version_and_backends(self):
        r = dlnflow("info")
        self.assertEqual(r.returncode, 0)
        self.assertIn("dlnflow 0.1.0", r.stdout)
        self.assertIn("backends: cpu", r.stdout)


if __name__ == "__main__":
    main()
