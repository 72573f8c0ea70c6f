"""Older versions of outputs (issue 12, "Things a user reaches for"): `runicorn outputs RUN` lists every
archived version, `show` says how many there are, and `restore --outputs --version N` / `--step S` writes
any one of them."""

import json

import pytest

import runicorn as rn

RUN = "20250501_080000_0u0u01"


@pytest.fixture
def three_versions(storage_root, tmp_path):
    """A training that archives its checkpoint folder after epochs 1, 2 and 3 (each checkpoint different)."""
    out = tmp_path / "work" / "checkpoints"
    out.mkdir(parents=True)
    with rn.init(path="cv/ckpt", storage=str(storage_root), run_id=RUN) as run:
        for epoch in (1, 2, 3):
            run.log({"loss": 1.0 / epoch}, step=epoch * 100)
            (out / "last.pt").write_bytes(b"weights of epoch %d " % epoch * (10 * epoch))
            report = run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
            assert report["archived"]  # (the count is pinned in test_sdk_returns.py)
    return out


def _restored(invoke, tmp_path, name, *args):
    target = tmp_path / name
    invoke("restore", RUN, "--outputs", *args, "--to", target, expect=0)
    return (target / "checkpoints" / "last.pt").read_bytes()


def test_outputs_lists_every_archived_version(three_versions, invoke):
    out = invoke("outputs", RUN, expect=0).output
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["VERSION", "ARCHIVED", "STEP"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"], out
    listed = json.loads(invoke("outputs", RUN, "--json", expect=0).output)
    assert [v["version"] for v in listed] == [1, 2, 3]
    assert [v["step"] for v in listed] == [100, 200, 300]
    assert all(v["available"] for v in listed)
    assert all(v["id"].startswith("blake3:") for v in listed)


def test_show_says_how_many_outputs_versions_there_are(three_versions, invoke):
    out = invoke("show", RUN, expect=0).output
    line = next(line for line in out.splitlines() if line.startswith("outputs "))
    assert "3 versions archived" in line and f"runicorn outputs {RUN}" in line, line


def test_restore_outputs_version_n_and_step_s(three_versions, invoke, tmp_path):
    epoch = {n: b"weights of epoch %d " % n * (10 * n) for n in (1, 2, 3)}
    assert _restored(invoke, tmp_path, "latest") == epoch[3]
    assert _restored(invoke, tmp_path, "v1", "--version", "1") == epoch[1]
    assert _restored(invoke, tmp_path, "v2", "--version", "2") == epoch[2]
    assert _restored(invoke, tmp_path, "s250", "--step", "250") == epoch[2]  # the last archived at or before 250
    assert _restored(invoke, tmp_path, "s100", "--step", "100") == epoch[1]

    missing = invoke("restore", RUN, "--outputs", "--version", "4", "--to", tmp_path / "v4", expect=1)
    assert "versions 1 to 3" in missing.output and f"runicorn outputs {RUN}" in missing.output
    early = invoke("restore", RUN, "--outputs", "--step", "50", "--to", tmp_path / "s50", expect=1)
    assert "at or before step 50" in early.output
    assert not (tmp_path / "v4").exists() and not (tmp_path / "s50").exists()
