"""Console capture catches what the user sees from Python, whatever the setup order (issue 12): with
logging.basicConfig() called before rn.init(capture_console=True), logger.info reaches the run's log; the
log keeps no raw ANSI colour codes."""

import runicorn as rn
from newuser_support import run_script

SCRIPT = """
import logging
import sys

import runicorn as rn

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("train")

run = rn.init(path="nlp/console", run_id=sys.argv[1], capture_console=True)
logger.info("epoch 1 loss 0.5")
print("\\x1b[1;32mvalidation passed\\x1b[0m plain tail")
sys.stdout.flush()
logger.warning("\\x1b[33mlearning rate is high\\x1b[0m")
run.finish()
"""


def test_logging_basicconfig_before_init_reaches_the_run_log_without_colour_codes(storage_root, invoke, tmp_path):
    run_id = "20250901_070000_c0c0c0"
    done = run_script(tmp_path / "project", SCRIPT, args=[run_id])
    assert done.returncode == 0, done.stderr
    assert "INFO train: epoch 1 loss 0.5" in done.stderr  # the terminal still shows it
    assert "\x1b[1;32mvalidation passed" in done.stdout  # colours stay on the terminal

    # The text log on disk (docs/format.md: logs.txt in the run folder), as the viewer and rn.Api read it.
    log = (rn.Api(str(storage_root)).run(run_id).run_dir / "logs.txt").read_text()
    assert "INFO train: epoch 1 loss 0.5" in log, log
    assert "validation passed plain tail" in log, log
    assert "learning rate is high" in log, log
    assert "\x1b" not in log and "[0m" not in log, repr(log)
    assert invoke("logs", run_id, expect=0).stdout == log  # and `runicorn logs` prints it
