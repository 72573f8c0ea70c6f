"""The README's training example, run as a script on a fresh machine (issue 12, "Things that surprise"): it
warns about nothing, in particular not that ./checkpoints does not exist yet (the script creates it)."""

import json

from newuser_support import cli, environment, run_script

# Copied verbatim from README.md, "In your training script".
README_EXAMPLE = '''\
from pathlib import Path

import runicorn as rn

with rn.init(path="cv/resnet50/baseline", alias="seed-42", snapshot_code=True) as run:
    run.set_primary_metric("val_acc", mode="max")
    run.log_config(extra={"lr": 1e-3, "epochs": 10})
    run.watch_outputs(output_dirs=["./checkpoints"], interval_sec=30)  # archived into the store
    for epoch in range(10):
        run.log({"train_loss": 0.5 / (epoch + 1), "val_acc": 0.8 + epoch / 100}, stage=f"epoch_{epoch}")
        Path("checkpoints").mkdir(exist_ok=True)
        Path("checkpoints/last.pt").write_bytes(b"weights of epoch %d" % epoch)
# finish (end of the with block) makes a last outputs scan
'''


def test_the_readme_example_runs_without_a_warning_about_the_output_folder(tmp_path):
    project, root = tmp_path / "project", tmp_path / "runs-root"
    done = run_script(project, README_EXAMPLE, env=environment(RUNICORN_DIR=root))
    assert done.returncode == 0, done.stderr
    assert "does not exist" not in done.stderr, done.stderr
    assert "Warning" not in done.stderr, done.stderr  # no warning at all on a first run
    assert done.stdout == ""

    (run,) = json.loads(cli("ls", "--json", storage=root).stdout)
    assert run["status"] == "finished" and run["alias"] == "seed-42"
    assert run["primary_metric"]["best"] == 0.89
    versions = json.loads(cli("outputs", run["id"], "--json", storage=root).stdout)
    assert len(versions) == 1 and versions[0]["files"] == 1  # the last scan archived checkpoints/last.pt
    restored = cli("restore", run["id"], "--outputs", "--to", tmp_path / "ckpt", storage=root)
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "ckpt" / "checkpoints" / "last.pt").read_bytes() == b"weights of epoch 9"
