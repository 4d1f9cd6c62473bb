"""The examples in examples/ run end to end (they are documentation users copy from)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_pytables_tutorial_example_runs(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "pytables_tutorial.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "/data/readout: 1000 rows" in out
    assert "/text_file: 4 lines" in out
    assert "Image.open(f.root.tuscany.small08): PNG (300, 300)" in out
    assert "/tuscany: 19 images" in out
    import octavo
    with octavo.open(tmp_path / "tutorial.octavo") as b:
        assert b["/stab"].shape == (96, 96, 96)
        assert "/tuscany/last_image" in b and "/tuscany/small19" not in b


def test_gpu_usage_example_runs(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "gpu_usage.py"), str(tmp_path), "--rows", "20000"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "from 4 databases in commit 1" in r.stdout
    assert "incremental sync of gpu_state_2025-11.db: 0 new rows" in r.stdout
    assert ("same result as pandas read_sql_query: True; as polars read_database: True; "
            "as polars over bundle.scan: True") in r.stdout


def test_cluster_example_runs(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "cluster.py"), str(tmp_path), "--rows", "20000"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    out = r.stdout
    assert "cluster: 2 worker processes" in out
    assert "traces: 4 partitions, index 'trace', known divisions: True" in out
    assert "read from 1 of 4 partitions" in out
    assert "volume chunks ((8, 8, 8, 8), (20, 20), (48,))" in out
    assert "datatree groups: ['/', '/survey']" in out
    assert "read tasks: 4 tasks, 480 traces with cdp < 10" in out
