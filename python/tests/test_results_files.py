"""docs/results.md against the files: every dataset, group and attribute it documents for
trajectories.h5 is read back from a real run with its documented rank and type, and every dataset
the file holds is documented (issue #17: docs and files agreeing)."""
import os
import re

import h5py
import numpy as np
import pytest

import dlnflow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TYPES = {"int64": np.int64, "int32": np.int32, "float64": np.float64}


def documented_layout():
    """(root attrs, point attrs, {path: (rank, dtype or None)}, {group: [attrs]}) from docs/results.md."""
    text = open(os.path.join(ROOT, "docs", "results.md"), encoding="utf-8").read()
    block = text[text.index("## trajectories.h5"):]
    block = block[block.index("```\n") + 4:]
    block = block[:block.index("```")]
    root_attrs, point_attrs, datasets, group_attrs = [], [], {}, {}
    group = None
    for line in block.splitlines():
        if not line.strip() or len(line) - len(line.lstrip()) >= 20:
            continue  # a continuation of the line above
        if line.startswith("/ "):
            root_attrs = [a.split("(")[0].strip() for a in line.split("attrs:")[1].split(",")]
            continue
        if line.startswith("/points/"):
            point_attrs = ["experiment"]  # and one per swept key (checked below)
            continue
        indent = len(line) - len(line.lstrip())
        m = re.match(r"\s*(.+?)\s+(\(([^)]*)\)|attrs:)\s*(.*)$", line)
        assert m, f"unparsed line of docs/results.md: {line!r}"
        names, shape, rest = m.group(1), m.group(3), m.group(4)
        if indent == 4:
            group = None
        if names.endswith("/"):  # a group, with its attributes
            group = names.rstrip("/")
            listed = rest.split(":")[0]  # names (E): what they are
            group_attrs[group] = [re.split(r"[ (]", a.strip())[0] for a in listed.split(",")] if m.group(2) == "attrs:" else []
            continue
        if "/" in names:  # final_state/W1..WN | U | W: a group of matrices, W1 .. WN for a deep network
            g = names.split("/")[0]
            datasets[g + "/W*"] = (len(shape.split(",")), None)
            continue
        dtype = next((TYPES[w] for w in TYPES if rest.startswith(w)), None)
        for name in (n.strip() for n in names.split(",")):
            datasets[(group + "/" if indent == 8 and group else "") + name] = (len(shape.split(",")), dtype)
        if "attrs" in rest and group:  # loss (K), attrs labels (K), kinds (K)   what they are
            listed = re.split(r"\s{2,}", rest.split("attrs")[1].strip())[0]
            group_attrs[group] += [a.split("(")[0].strip() for a in listed.split(",")]
    return root_attrs, point_attrs, datasets, group_attrs


@pytest.mark.parametrize("save_states", ["endpoints", "recorded"])
def test_every_documented_path_is_in_the_file_and_every_dataset_is_documented(small, tmp_path, save_states):
    root_attrs, point_attrs, datasets, group_attrs = documented_layout()
    assert {"time", "loss", "spectrum", "events/times", "critical_points/distance", "final_state/W*"} <= set(datasets)
    doc = dict(small, record=dict(small["record"], save_states=save_states, critical_points=True),
               sweep={"seeds": 2, "axes": {"network.depth": [2, 3], "initialization.alpha": [1e-2, 1e-3]}})
    dlnflow.run(doc, out=tmp_path / "res", progress=False)
    with h5py.File(tmp_path / "res" / "trajectories.h5") as f:
        for a in root_attrs:
            assert a in f.attrs, f"documented root attribute {a} is missing"
        assert list(f["points"].keys()) == ["0", "1", "2", "3"]
        for name in f["points"]:
            g = f["points"][name]
            for a in point_attrs + ["network.depth", "initialization.alpha"]:
                assert a in g.attrs, f"documented attribute {a} of points/{name} is missing"
            depth = int(g.attrs["network.depth"])
            expected = {}
            for path, (rank, dtype) in datasets.items():
                if path.endswith("/W*"):
                    kind = path.split("/")[0]
                    if (kind == "states") != (save_states == "recorded"):
                        continue  # final_state and initial_state come with endpoints, states with recorded
                    for j in range(1, depth + 1):
                        expected[f"{kind}/W{j}"] = (rank, np.float64)
                else:
                    expected[path] = (rank, dtype)
            for path, (rank, dtype) in expected.items():
                assert path in g, f"documented dataset points/{name}/{path} is missing"
                assert g[path].ndim == rank, f"points/{name}/{path}: rank {g[path].ndim}, documented {rank}"
                if dtype is not None:
                    assert g[path].dtype == dtype, f"points/{name}/{path}: {g[path].dtype}, documented {dtype}"
            for grp, attrs in group_attrs.items():
                for a in attrs:
                    assert a in g[grp].attrs, f"documented attribute {a} of points/{name}/{grp} is missing"
            present = []
            g.visititems(lambda p, o: present.append(p) if isinstance(o, h5py.Dataset) else None)
            undocumented = sorted(set(present) - set(expected))
            assert not undocumented, f"datasets in the file that docs/results.md does not list: {undocumented}"
