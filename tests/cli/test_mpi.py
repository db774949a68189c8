"""Runs across processes: `mpirun -np 2` against one process, a rank killed and then resumed,
and `--shard I/N` + `merge`. The oracle is the one-process run's data files, byte for byte:
chunks are assigned dynamically, but every trajectory depends only on its seed and the files are
written from the checkpoints in plan order. The MPI tests skip (exit 77) where this build has no
MPI or mpirun is missing; CI runs as root, hence --allow-run-as-root --oversubscribe.
"""
import json
import os
import shutil
import signal
import subprocess
import time

from clitest import BIN, SRC, Workspace, assert_same_bytes, dlnflow, main

SWEEP = os.path.join(SRC, "tests", "cli", "sweep.toml")
MPIRUN = ["mpirun", "-np", "2", "--allow-run-as-root", "--oversubscribe"]
if "detect_leaks=1" in os.environ.get("ASAN_OPTIONS", ""):
    # Open MPI never frees what its components allocate, and LeakSanitizer reports it at exit
    # (from modules it has unloaded, so no suppression can name them): under mpirun, memory
    # errors are still fatal, leaks are not checked.
    os.environ["ASAN_OPTIONS"] += ":detect_leaks=0"


def mpi_usable():
    return "MPI compiled: yes" in dlnflow("info").stdout and shutil.which("mpirun") is not None


def longer(ws):
    return ws.write("long.toml", open(SWEEP).read().replace("seeds = 5", "seeds = 40").replace(
        "chunk_size = 3", "chunk_size = 2"))


class Mpi(Workspace):
    def setUp(self):
        super().setUp()
        if not mpi_usable():
            self.skipTest("this build has no MPI (dlnflow info) or mpirun is not installed")

    def test_two_ranks_write_the_bytes_of_one_process(self):
        exp = longer(self)
        one, two = self.path("one"), self.path("two")
        self.assertEqual(dlnflow("run", exp, "--out", one, "--quiet").returncode, 0)
        r = subprocess.run(MPIRUN + [BIN, "run", exp, "--out", two], capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(2 MPI ranks)", r.stderr)
        assert_same_bytes(self, one, two)
        m = json.load(open(os.path.join(two, "manifest.json")))
        self.assertEqual(m["ranks"], 2)
        self.assertEqual(sorted(c["id"] for c in m["chunks"]), list(range(len(m["chunks"]))))

    def test_a_killed_rank_leaves_its_chunks_to_resume(self):
        exp = longer(self)
        one, cut = self.path("one"), self.path("cut")
        self.assertEqual(dlnflow("run", exp, "--out", one, "--quiet").returncode, 0)
        p = subprocess.Popen(MPIRUN + [BIN, "run", exp, "--out", cut, "--quiet", "--threads", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline and not os.path.exists(os.path.join(cut, "chunks", "chunk-000003.bin")):
            time.sleep(0.005)
        ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        self.assertEqual(len(ranks), 2, "mpirun should have two rank processes")
        os.kill(int(ranks[-1]), signal.SIGKILL)  # one rank dies; mpirun ends the job
        p.communicate(timeout=120)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(json.load(open(os.path.join(cut, "manifest.json")))["status"], "incomplete")
        r = subprocess.run(MPIRUN + [BIN, "run", exp, "--out", cut, "--resume"], capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("trajectories already done", r.stderr)
        assert_same_bytes(self, one, cut)



class Shards(Workspace):
    def test_shards_merged_equal_one_process(self):
        exp = longer(self)
        one = self.path("one")
        self.assertEqual(dlnflow("run", exp, "--out", one, "--quiet").returncode, 0)
        shards = [self.path(f"shard{i}") for i in range(3)]
        for i, s in enumerate(shards):
            r = dlnflow("run", exp, "--out", s, "--shard", f"{i}/3", "--quiet")
            self.assertEqual(r.returncode, 0, r.stderr)
        r = dlnflow("merge", exp, shards[0], shards[1], "--out", self.path("partial"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("in none of the shard folders", r.stderr)
        self.assertFalse(os.path.exists(self.path("partial")))
        merged = self.path("merged")
        r = dlnflow("merge", exp, *reversed(shards), "--out", merged)
        self.assertEqual(r.returncode, 0, r.stderr)
        assert_same_bytes(self, one, merged)
        # A shard resumes as a shard only.
        r = dlnflow("run", exp, "--out", shards[0], "--resume")
        self.assertEqual(r.returncode, 2)
        self.assertIn("same --shard", r.stderr)


if __name__ == "__main__":
    main()
