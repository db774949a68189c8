"""Reliability of the dlnflow command (docs/reliability.md): every defect of issue #13 as a
regression test that fails on the code before its fix. Oracles: an uninterrupted run's files,
byte for byte (a damaged checkpoint must be recomputed to exactly what it held), the folder's
contents before and after a refusal, and the exit codes and messages docs/cli.md promises.
"""
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import time

from clitest import BASE, BIN, SRC, Workspace, assert_same_bytes, assert_same_h5, dlnflow, h5py, main, np, read_summary

SWEEP = os.path.join(SRC, "tests", "cli", "sweep.toml")
HEADER = 45  # checkpoint: magic 8, fingerprint 8, id 8, point 4, first seed 4, count 4, backend 1, seconds 8



def listing(folder):
    """Every path under a folder with its bytes: what a refusal must leave untouched."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder) + "/"] = None
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), folder)] = fh.read()
    return out


class Folders(Workspace):
    def assert_same_results(self, ref, other):
        assert_same_h5(self, os.path.join(ref, "trajectories.h5"), os.path.join(other, "trajectories.h5"))  # names a dataset
        assert_same_bytes(self, ref, other)

    def reference(self):
        ref = self.path("ref")
        r = dlnflow("run", SWEEP, "--out", ref, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        return ref

    def interrupted(self, name="cut", chunks=5):
        cut = self.path(name)
        r = dlnflow("run", SWEEP, "--out", cut, "--stop-after-chunks", str(chunks), "--quiet")
        self.assertEqual(r.returncode, 130, r.stderr)
        return cut


class OverwriteRefusals(Folders):
    def test_a_folder_that_merely_has_a_manifest_is_not_overwritten(self):
        web = self.path("webapp")
        os.mkdir(web)
        open(os.path.join(web, "manifest.json"), "w").write('{"name": "my web app"}')
        open(os.path.join(web, "index.html"), "w").write("<html></html>")
        before = listing(web)
        r = dlnflow("run", SWEEP, "--out", web, "--overwrite")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not a dlnflow results folder", r.stderr)
        self.assertEqual(listing(web), before)

    def test_a_file_given_as_out_is_refused_and_kept(self):
        f = self.path("empty")
        open(f, "w").close()
        for extra in ((), ("--overwrite",), ("--resume",)):
            r = dlnflow("run", SWEEP, "--out", f, *extra)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertTrue(os.path.isfile(f))
            self.assertEqual(os.path.getsize(f), 0)

    def test_overwrite_removes_only_what_dlnflow_wrote(self):
        out = self.path("res")
        self.assertEqual(dlnflow("run", SWEEP, "--out", out, "--quiet").returncode, 0)
        open(os.path.join(out, "notes.txt"), "w").write("my notes")
        os.makedirs(os.path.join(out, "plots"))
        open(os.path.join(out, "plots", "loss.png"), "w").write("dlnflow's figure")
        open(os.path.join(out, "plots", "mine.png"), "w").write("my figure")
        open(os.path.join(out, "plots", "escape.pdf"), "w").write("dlnflow's figure")
        open(os.path.join(out, "plots", "singular_values-2.svg"), "w").write("dlnflow's figure")
        open(os.path.join(out, "plots", "escape-3.png"), "w").write("dlnflow's figure")
        open(os.path.join(out, "plots", "singular_values-two.png"), "w").write("my figure")
        r = dlnflow("run", SWEEP, "--out", out, "--overwrite")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("kept 3 entries", r.stderr)
        self.assertEqual(open(os.path.join(out, "notes.txt")).read(), "my notes")
        self.assertEqual(open(os.path.join(out, "plots", "mine.png")).read(), "my figure")
        self.assertFalse(os.path.exists(os.path.join(out, "plots", "loss.png")))
        for name in ("escape.pdf", "singular_values-2.svg", "escape-3.png"):
            self.assertFalse(os.path.exists(os.path.join(out, "plots", name)), name)
        self.assertEqual(open(os.path.join(out, "plots", "singular_values-two.png")).read(), "my figure")
        self.assertEqual(len(read_summary(out)), 30)


class ChunkPlanFingerprint(Folders):
    def test_a_changed_chunk_size_cannot_resume(self):
        ref = self.reference()
        cut = self.interrupted()
        edited = self.write("edited.toml", open(SWEEP).read().replace("chunk_size = 3", "chunk_size = 4"))
        r = dlnflow("run", edited, "--out", cut, "--resume")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("chunk plan", r.stderr)
        r = dlnflow("run", SWEEP, "--out", cut, "--resume", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = read_summary(cut)
        self.assertEqual(sorted((row["point"], row["seed"]) for row in rows),
                         sorted({(row["point"], row["seed"]) for row in rows}))  # each seed once
        self.assert_same_results(ref, cut)


class DamagedCheckpoints(Folders):
    """A damaged checkpoint is recomputed with a warning, never trusted, never fatal: the resumed
    files equal the uninterrupted run's byte for byte."""

    def setUp(self):
        super().setUp()
        self.ref = None
        self.trial = 0

    def damage_and_resume(self, damage, expect):
        if self.ref is None:
            self.ref = self.reference()
        ref = self.ref
        self.trial += 1
        cut = self.interrupted(f"cut{self.trial}")
        chunk = os.path.join(cut, "chunks", "chunk-000001.bin")
        damage(cut, chunk)
        r = dlnflow("run", SWEEP, "--out", cut, "--resume")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(expect, r.stderr)
        self.assert_same_results(ref, cut)
        m = json.load(open(os.path.join(cut, "manifest.json")))
        ids = [c["id"] for c in m["chunks"]]
        self.assertEqual(sorted(ids), list(range(12)))  # every chunk once, a recomputed one too
        for c in m["chunks"]:
            self.assertIn("diverged", c)
            self.assertIn(c["backend"], ("cpu", "gpu"))
        return r.stderr

    def patch(self, path, offset, data):
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(data)

    def test_a_flipped_bit_in_a_payload(self):
        def flip(cut, chunk):  # record 0's t_end
            with open(chunk, "r+b") as f:
                f.seek(HEADER + 12)
                b = f.read(1)
                f.seek(HEADER + 12)
                f.write(bytes([b[0] ^ 0x10]))
        self.damage_and_resume(flip, "checksum mismatch")

    def bump(self, offset, modulo):
        """Record 0's int32 at offset changed to another value that is valid on its own."""
        def damage(cut, chunk):
            with open(chunk, "rb") as f:
                f.seek(offset)
                old = struct.unpack("<i", f.read(4))[0]
            self.patch(chunk, offset, struct.pack("<i", (old + 1) % modulo))
        return damage

    def test_a_status_seed_or_point_changed_to_another_valid_value(self):
        for offset, modulo in ((HEADER + 8, 8), (HEADER + 4, 5), (HEADER, 6)):  # status, seed, point
            with self.subTest(offset=offset):
                self.damage_and_resume(self.bump(offset, modulo), "recomputing chunk 1")

    def test_an_out_of_range_point_index_and_a_huge_length_field(self):
        for offset, data in ((HEADER, struct.pack("<i", 1 << 30)),          # point index of record 0
                             (HEADER + 52, struct.pack("<Q", 1 << 62))):     # its message length
            with self.subTest(offset=offset):
                self.damage_and_resume(lambda cut, chunk: self.patch(chunk, offset, data), "recomputing chunk 1")

    def test_a_truncated_checkpoint(self):
        self.damage_and_resume(lambda cut, chunk: os.truncate(chunk, 100), "recomputing chunk 1")

    def test_a_folder_in_place_of_a_checkpoint_is_moved_aside(self):
        def folder(cut, chunk):
            os.remove(chunk)
            os.mkdir(chunk)
            open(os.path.join(chunk, "x"), "w").write("not mine to delete")
        err = self.damage_and_resume(folder, "moved it aside")
        self.assertIn("kept 1 entry", err)
        self.assertEqual(open(os.path.join(self.path("cut1"), "chunks", "chunk-000001.bin.unusable-1", "x")).read(),
                         "not mine to delete")

    def test_a_deleted_or_truncated_manifest_is_rebuilt_from_the_checkpoints(self):
        err = self.damage_and_resume(lambda cut, chunk: os.remove(os.path.join(cut, "manifest.json")),
                                     "rebuilt from the checkpoints")
        self.assertIn("13 of 30 trajectories already done", err)
        self.damage_and_resume(lambda cut, chunk: os.truncate(os.path.join(cut, "manifest.json"), 100),
                               "rebuilt from the checkpoints")

    def test_implausible_chunk_ids_in_the_manifest_are_ignored(self):
        def ids(cut, chunk):
            path = os.path.join(cut, "manifest.json")
            m = json.load(open(path))
            m["chunks"] += [{"id": 10 ** 12, "point": 0}, {"id": -5}, {"id": "x"}, "junk"]
            json.dump(m, open(path, "w"))
        self.damage_and_resume(ids, "already done")


class InputWarnings(Workspace):
    def test_a_perturbation_below_the_rounding_of_w0_is_reported(self):
        W = np.diag([3.0, 0.0, 0.0]) + 3e-16 * np.random.default_rng(1).standard_normal((3, 3))
        np.save(self.path("w0.npy"), W)
        exp = self.write("bal.toml", BASE.replace("[[3.0, 0.0], [0.0, 1.0]]", "[[3.0, 0, 0], [0, 1.0, 0], [0, 0, 0.5]]")
                         .replace("alpha = 1e-3", 'kind = "balanced"\nW0 = "w0.npy"'))
        for args in (("check", exp), ("run", exp, "--out", self.path("out"))):
            r = dlnflow(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("below W0's rounding", r.stdout + r.stderr)
        np.save(self.path("w0.npy"), np.diag([3.0, 1e-3, 0.0]))  # a real perturbation: no warning
        self.assertNotIn("rounding", dlnflow("check", exp).stdout)

    def test_numbers_float64_cannot_hold_are_named_as_written(self):
        exp = self.write("a.toml", BASE.replace("alpha = 1e-3", "alpha = 1e-400"))
        r = dlnflow("check", exp)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("a.toml:8:9: initialization.alpha: 1e-400 is below the smallest positive float64", r.stderr)
        exp = self.write("b.toml", BASE.replace("alpha = 1e-3", "alpha = 1e400"))  # toml++ refuses this one itself
        r = dlnflow("check", exp)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("b.toml:8:", r.stderr)
        self.assertIn("1e400", r.stderr)
        exp = self.write("s.toml", BASE + '[sweep]\naxes."initialization.alpha" = [1e-3, 1e-500]\n')
        r = dlnflow("check", exp)
        self.assertEqual(r.returncode, 2)
        self.assertIn("s.toml:15:", r.stderr)
        self.assertIn("1e-500 is below", r.stderr)

    def test_a_start_beyond_the_integrators_reach_is_warned_and_rtol_is_bounded(self):
        exp = self.write("big.toml", BASE.replace("alpha = 1e-3", "alpha = 1e200")
                         .replace('method = "rk4"\ndt = 0.01', 'method = "dopri5"'))
        r = dlnflow("check", exp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: the flow at the initial state overflows", r.stdout)
        # The BW loss's eigensolver cannot take the overflowed end-to-end matrix: check warns (it
        # aborted on std::domain_error, found by fuzz_experiment) and run records the trajectory
        # as failed at t = 0.
        bw = self.write("bw.toml", '[problem]\nloss = "bures_wasserstein"\nsigma0 = [[2.0, 0.0], [0.0, 1.0]]\n'
                        'tau = 0.5\n[network]\nwidths = [2, 2, 2]\n[initialization]\nalpha = 1e200\n'
                        '[stop]\nt_final = 1.0\n')
        r = dlnflow("check", bw)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: the flow at the initial state cannot be evaluated (", r.stdout)
        self.assertIn("): the trajectory will stop at its first step", r.stdout)
        r = dlnflow("run", bw, "--out", self.path("bw-out"), "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        row = read_summary(self.path("bw-out"))[0]
        self.assertEqual((row["status"], row["t_end"]), ("failed", "0"))
        exp = self.write("mid.toml", BASE.replace("alpha = 1e-3", "alpha = 1e30").replace("depth = 2", "depth = 3")
                         .replace('method = "rk4"\ndt = 0.01', 'method = "dopri5"'))
        self.assertIn("will stop at max_steps", dlnflow("check", exp).stdout)
        exp = self.write("rtol.toml", BASE.replace('method = "rk4"\ndt = 0.01', 'method = "dopri5"\nrtol = 1.5'))
        r = dlnflow("check", exp)
        self.assertEqual(r.returncode, 2)
        self.assertIn("integrator.rtol: must be in (0, 1) (got 1.5)", r.stderr)


class DivergingTrajectories(Workspace):
    def test_non_finite_samples_write_nan_and_the_sentinel_rank_deterministically(self):
        """Factors at 1e300 overflow the end-to-end matrix: the sample at t = 0 has a non-finite
        loss. Its singular values must be NaN with rank -2, and two runs the same bytes (an SVD of
        infinities returned uninitialized memory before)."""
        exp = self.write("inf.toml", BASE.replace("depth = 2", "depth = 4")
                         .replace("alpha = 1e-3", 'alpha = 1e300\nscale_on = "factors"')
                         .replace('method = "rk4"\ndt = 0.01', 'method = "euler"\ndt = 1e-300\nmax_steps = 20')
                         .replace("t_final = 1.0", "t_final = 1e-299\nblowup_norm = 1e308")
                         + '[record]\ngrid = "uniform"\ncount = 5\n[sweep]\nseeds = 3\n')
        a, b = self.path("a"), self.path("b")
        for out in (a, b):
            self.assertEqual(dlnflow("run", exp, "--out", out, "--quiet").returncode, 0)
        with open(os.path.join(a, "trajectories.h5"), "rb") as fa, open(os.path.join(b, "trajectories.h5"), "rb") as fb:
            self.assertEqual(fa.read(), fb.read())
        with h5py.File(os.path.join(a, "trajectories.h5"), "r") as f:
            g = f["points/0"]
            self.assertTrue(np.all(g["rank"][:, 0] == -2))
            self.assertTrue(np.all(np.isnan(g["spectrum"][:, 0, :])))
            self.assertTrue(np.all(g["final_rank"][:] == -1))


class HostileInput(Workspace):
    def refused(self, text, *fragments, name="bad.toml"):
        exp = self.write(name, text)
        r = dlnflow("check", exp, timeout=120)
        self.assertEqual(r.returncode, 2, r.stderr)
        for f in fragments:
            self.assertIn(f, r.stderr)
        return r.stderr

    def test_sizes_beyond_the_machine_are_named_errors_before_allocation(self):
        big = BASE.replace("[[3.0, 0.0], [0.0, 1.0]]", '{ generate = "diagonal", values = [3.0], size = 100000000 }')
        self.refused(big, "bad.toml:4:", "problem.target.size: a 100000000 x 100000000 matrix needs")
        self.refused(BASE.replace("depth = 2", "depth = 2\nwidth = 1000000000"), "network.width: a state of")
        self.refused(BASE.replace("depth = 2", "depth = 2\nwidth = 4294967298"), "must be in [1, 2147483647] (got 4294967298)")
        self.refused(BASE.replace("depth = 2", "depth = 2\nwidth = 4294967295"), "(got 4294967295)")
        self.refused(BASE.replace('loss = "matrix_approximation"', 'loss = "sensing"\nA = { generate = "gaussian", count = 1000000000000 }'),
                     "problem.A.count: 1000000000000 sensing matrices")

    def write_npy(self, name, header, payload=b""):
        h = header.encode()
        with open(self.path(name), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + payload)

    def test_damaged_npy_headers_are_named_errors(self):
        cases = {
            "descr.npy": "{'descr': '', 'fortran_order': False, 'shape': (2, 2), }",
            "digits.npy": "{'descr': '<f8', 'fortran_order': False, 'shape': (12345678901234567890123, 2), }",
            "wide.npy": "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
        }
        for name, header in cases.items():
            with self.subTest(name=name):
                self.write_npy(name, header, b"\0" * 32)
                self.refused(BASE.replace("[[3.0, 0.0], [0.0, 1.0]]", f'"{name}"'), "problem.target: ", name=f"{name}.toml")
        # A header length pointing past the end of the file.
        with open(self.path("past.npy"), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b"{'descr': '<f8', 'shape': (1,), }")
        self.refused(BASE.replace("[[3.0, 0.0], [0.0, 1.0]]", '"past.npy"'), "problem.target: ")

    def test_messages_name_the_key_the_file_and_the_place(self):
        a = np.eye(2) * 3
        a[1, 0] = np.nan
        np.save(self.path("t.npy"), a)
        self.refused(BASE.replace("[[3.0, 0.0], [0.0, 1.0]]", '"t.npy"'),
                     "bad.toml:4:10: problem.target: data file 't.npy': entry [1, 0] (numpy index) is nan")
        self.refused(BASE.replace('method = "rk4"\ndt = 0.01', 'method = "dopri5"\ndt_max = 0.1\ndt_min = 1.0'),
                     "bad.toml:12:10: integrator.dt_min: must be <= dt_max = 0.1 (got 1)")
        self.refused(BASE + '[sweep]\naxes."initialization.alpha" = [1e-3, -1.0]\n',
                     "bad.toml:15:31: initialization.alpha: must be >= 0 (got -1) (at sweep point 1")

    def test_a_name_never_becomes_a_path(self):
        work = self.path("work")
        os.mkdir(work)
        for name in ('"/tmp/dlnflow-abs"', '"../../x"', '""', '"a/b"', '".hidden"', '"a\\nb"'):
            with self.subTest(name=name):
                exp = os.path.join(work, "n.toml")
                open(exp, "w").write(BASE.replace('name = "base"', f"name = {name}"))
                r = subprocess.run([BIN, "run", exp], cwd=work, capture_output=True, text=True)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("n.toml:1:8: name: must be", r.stderr)
                self.assertEqual(os.listdir(work), ["n.toml"])
        self.assertFalse(os.path.exists("/tmp/dlnflow-abs"))

    def test_path_errors_exit_2(self):
        exp = self.write("ok.toml", BASE)
        open(self.path("afile"), "w").close()
        r = dlnflow("run", exp, "--out", self.path("afile", "sub"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("cannot set up the results folder", r.stderr)
        self.assertNotIn("--resume", r.stderr)


class ResourceEstimates(Workspace):
    def test_what_cannot_fit_is_refused_unless_forced(self):
        exp = self.write("huge.toml", BASE + '[record]\ncount = 1000\nsave_states = "recorded"\n[sweep]\nseeds = 100000000\n'
                         '[run]\nchunk_size = 100000\n')
        r = dlnflow("check", exp)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("TiB", r.stdout)
        self.assertIn("needs more than the machine has", r.stderr)
        self.assertEqual(dlnflow("check", exp, "--force").returncode, 0)
        r = dlnflow("run", exp, "--out", self.path("out"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--force", r.stderr)
        self.assertFalse(os.path.exists(self.path("out")))


class FolderLock(Workspace):
    def test_a_second_run_on_a_folder_in_use_is_refused_naming_the_holder(self):
        exp = self.write("slow.toml", BASE.replace("t_final = 1.0", "t_final = 60.0").replace("dt = 0.01", "dt = 0.001")
                         .replace("[[3.0, 0.0], [0.0, 1.0]]", '{ generate = "diagonal", values = [3.0, 2.0], size = 12 }')
                         .replace("depth = 2", "depth = 3") + "[sweep]\nseeds = 40\n[run]\nchunk_size = 1\n")
        out = self.path("out")
        first = subprocess.Popen([BIN, "run", exp, "--out", out, "--quiet", "--threads", "1"])
        try:
            deadline = time.time() + 60
            while not os.path.exists(os.path.join(out, "chunks", "chunk-000000.bin")) and time.time() < deadline:
                time.sleep(0.01)
            for extra in (("--resume",), ("--overwrite",)):
                r = dlnflow("run", exp, "--out", out, *extra)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(f"in use by another dlnflow run (pid {first.pid} on ", r.stderr)
        finally:
            first.send_signal(signal.SIGINT)
            first.wait(timeout=120)
        self.assertEqual(first.returncode, 130)
        # The lock went with its holder: the next run takes it.
        r = dlnflow("run", exp, "--out", out, "--resume", "--quiet", "--threads", "1", "--stop-after-chunks", "1")
        self.assertEqual(r.returncode, 130, r.stderr)


class FullDisk(Folders):
    def run_limited(self, out, kib, *extra):
        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, kib * 1024))
        return subprocess.run([BIN, "run", SWEEP, "--out", out, *extra], capture_output=True, text=True, preexec_fn=limit)

    def test_a_full_disk_while_writing_the_data_files_exits_3_and_resumes(self):
        ref = self.reference()
        out = self.path("full")
        size = os.path.getsize(os.path.join(ref, "trajectories.h5"))
        r = self.run_limited(out, size // 2048)  # half of trajectories.h5 fits
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("File too large", r.stderr)
        self.assertIn("rerun with --resume", r.stderr)
        self.assertEqual(len(json.load(open(os.path.join(out, "manifest.json")))["chunks"]), 12)
        r = dlnflow("run", SWEEP, "--out", out, "--resume", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_same_results(ref, out)

    def test_a_failure_before_any_checkpoint_does_not_promise_one(self):
        r = self.run_limited(self.path("tiny"), 1)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertNotIn("--resume", r.stderr)


class SourceSpelling(Folders):
    def test_another_spelling_of_the_experiment_path_records_the_same_source(self):
        ref = self.reference()
        shutil.copy(SWEEP, self.path("sweep.toml"))
        os.mkdir(self.path("sub"))
        cut = self.path("cut")
        r = subprocess.run([BIN, "run", "./sweep.toml", "--out", cut, "--stop-after-chunks", "4", "--quiet"], cwd=self.tmp)
        self.assertEqual(r.returncode, 130)
        r = subprocess.run([BIN, "run", "../sweep.toml", "--out", cut, "--resume", "--quiet"], cwd=self.path("sub"))
        self.assertEqual(r.returncode, 0)
        whole = self.path("whole")
        self.assertEqual(dlnflow("run", self.path("sub", "..", "sweep.toml"), "--out", whole, "--quiet").returncode, 0)
        self.assert_same_results(whole, cut)
        m = json.load(open(os.path.join(cut, "manifest.json")))
        self.assertEqual(m["experiment_file"], os.path.realpath(self.path("sweep.toml")))
        with h5py.File(os.path.join(cut, "trajectories.h5"), "r") as f:
            self.assertEqual(json.loads(f.attrs["experiment"])["source"], os.path.realpath(self.path("sweep.toml")))
        self.assertEqual(read_summary(ref), read_summary(cut))


class LargeSweepCheck(Workspace):
    def test_a_million_points_are_checked_in_bounded_memory(self):
        """A sweep at the documented limit (10^6 points): check must not hold the points. Before,
        it held every point's configuration (about 4.5 KB each, 4.5 GB here)."""
        exp = self.write("million.toml", BASE + '[sweep]\naxes."initialization.alpha" = { from = 1e-8, to = 1e-1, count = 1000, spacing = "log" }\n'
                         'axes."stop.t_final" = { from = 1.0, to = 10.0, count = 1000 }\n')
        baseline = peak_rss_kib([BIN, "--version"])
        peak = peak_rss_kib([BIN, "check", exp])
        self.assertLess(peak - baseline, 256 * 1024, f"check of 10^6 points used {peak - baseline} KiB over the binary's own")


class MemoryBound(Workspace):
    def test_a_run_of_100000_trajectories_is_written_in_the_memory_of_a_chunk(self):
        """10^5 trajectories x 50 record times: every record held at once (as before: the records,
        then the writer's arrays) is over 10^5 x 50 x ~200 bytes = 1 GB; streamed from the
        checkpoints it is one chunk's. Peak RSS is measured against the binary's own (the CUDA
        libraries alone are about 270 MB)."""
        exp = self.write("many.toml", BASE.replace("t_final = 1.0", "t_final = 0.05").replace('method = "rk4"', 'method = "euler"')
                         + '[record]\ngrid = "uniform"\ncount = 50\n[sweep]\nseeds = 100000\n[run]\nchunk_size = 256\n')
        out = self.path("out")
        baseline = peak_rss_kib([BIN, "--version"])
        peak = peak_rss_kib([BIN, "run", exp, "--out", out, "--quiet"])
        h5 = os.path.getsize(os.path.join(out, "trajectories.h5"))
        self.assertGreater(h5, 100000 * 50 * 44)  # loss, grad norm, defect, 2 singular values, rank: 44 bytes a sample
        self.assertEqual(sum(1 for _ in open(os.path.join(out, "summary.csv"))), 100001)
        self.assertLess((peak - baseline) * 1024, h5 / 8,
                        f"peak {peak - baseline} KiB over the binary's own for a {h5 >> 20} MiB trajectories.h5")


def peak_rss_kib(cmd):
    """Peak resident memory of one command (wait4's rusage of that child alone)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    assert p.returncode == 0, p.stderr.read()
    return usage.ru_maxrss


if __name__ == "__main__":
    main()
