"""Sub-file dedup through the SDK and the CLI: checkpoints that share tensors store those bytes once.

Checkpoints are built byte by byte (``tests/store/chunk_support.py``): safetensors files and torch.save zip
layouts of a model whose backbone is frozen (the same tensor bytes in every file) and whose head is new in
every checkpoint. Every run here goes through the real SDK; the store commands through the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.api import Api
from runicorn.maintenance import collect_garbage
from runicorn.restore import plan_restore, restore
from runicorn.store import Walker, faults, walk_tree
from runicorn.store.chunked import read_chunk_list
from runicorn.store.chunking import MIN_CHUNKED_FILE

from assets_support import backdate, store_of, view

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))

from chunk_support import (MiB, TENSOR, backbone, blake3_id, checkpoint, chunk_lists, cli_json,  # noqa: E402
                           cli_run, head, list_chunks, object_bytes, safetensors_bytes, seeded, tree_bytes, write)

FROZEN = backbone(8)  # 4 MiB: the same bytes in every checkpoint below
FROZEN_BYTES = sum(map(len, FROZEN.values()))
FROZEN_IDS = {blake3_id(t) for t in FROZEN.values()}


def model_file(fmt: str, stem: str, seed: int, **metadata) -> bytes:
    """A checkpoint: 8 frozen backbone tensors around 2 head tensors of its own (80 % of the tensors shared)."""
    names = list(FROZEN)
    tensors = {**{n: FROZEN[n] for n in names[:4]}, **head(seed), **{n: FROZEN[n] for n in names[4:]}}
    return checkpoint(fmt, stem, tensors, {k: str(v) for k, v in metadata.items()})


def save_folder(path: str, name: str, folder: Path) -> str:
    """One finished run that saved ``folder`` as dataset ``name``; its id."""
    with rn.init(path=path) as run:
        run.log_dataset(name, folder, save=True)
    return run.id


def restored(storage: Path, run_id: str, *args) -> dict[str, bytes]:
    """``runicorn restore RUN ARGS --to <fresh folder>``, read back."""
    target = storage.parent / f"restored-{run_id}-{len(list(storage.parent.glob('restored-*')))}"
    cli_run(storage, "restore", run_id, *args, "--to", target)
    return tree_bytes(target)


def assert_every_listed_chunk_exists(storage: Path) -> None:
    store = store_of(storage)
    for list_id, listing in chunk_lists(store).items():
        absent = [oid for oid, _ in listing.chunks if not store.path_for(oid).is_file()]
        assert absent == [], f"chunk list {list_id} names chunks not in the store: {absent}"


# -- round trips --------------------------------------------------------------------------------------------


def test_checkpoints_and_binaries_round_trip_through_the_sdk_and_the_cli(tmp_path, storage):
    files = {
        "model.safetensors": model_file("safetensors", "model", 1, epoch=1),
        "plain.safetensors": safetensors_bytes({**FROZEN, **head(2)}),
        "epoch_3.pt": model_file("pt", "epoch_3", 3, epoch=3),
        "safetensors-named.bin": model_file("safetensors", "x", 4),
        "below.bin": seeded(1, MIN_CHUNKED_FILE - 1),
        "at.bin": seeded(2, MIN_CHUNKED_FILE),
        "above.bin": seeded(3, MIN_CHUNKED_FILE + 1),
        "one.bin": b"\x01",
        "empty.bin": b"",
    }
    folder = tmp_path / "ckpt"
    for name, data in files.items():
        write(folder / name, data)
    backdate(folder)
    with rn.init(path="rt") as run:
        run.log_dataset("ckpt", folder, save=True)
        run.log_pretrained("single", path_or_uri=folder / "model.safetensors", save=True)
    store = store_of(storage)
    objects_after_one_run = {o.id for o in store.iter_objects()}

    single = view(run).latest_asset("pretrained", "single")
    assert single["id"] == blake3_id(files["model.safetensors"]).tagged
    assert single["type"] == "blob" and single["chunks"].startswith("blake3:")
    assert read_chunk_list(store, single.ref.id).file_id == blake3_id(files["model.safetensors"])
    dataset = view(run).latest_asset("dataset", "ckpt")
    entries = dict(walk_tree(store, dataset.ref.id))
    for name, data in files.items():
        assert entries[name].id == blake3_id(data)
        assert (entries[name].chunks is not None) == (len(data) >= MIN_CHUNKED_FILE), name
    assert json.loads((storage / "store" / "config.json").read_text())["extensions"] == ["chunks"]

    api = Api(storage)  # the library's restore, as the SDK's users call it
    plan = plan_restore(api.store, api.run(run.id), "dataset", "ckpt")
    assert plan.bytes == sum(map(len, files.values()))
    restore(api.store, plan, tmp_path / "sdk-restore")
    assert tree_bytes(tmp_path / "sdk-restore") == files
    plan = plan_restore(api.store, api.run(run.id), "pretrained", "single")
    assert plan.bytes == len(files["model.safetensors"])
    restore(api.store, plan, tmp_path / "sdk-single")
    assert tree_bytes(tmp_path / "sdk-single") == {"model.safetensors": files["model.safetensors"]}

    assert restored(storage, run.id, "--dataset", "ckpt") == files
    assert restored(storage, run.id, "--pretrained", "single") == {"model.safetensors": files["model.safetensors"]}
    assert cli_json(storage, "verify")["ok"] is True

    with rn.init(path="rt") as again:  # unchanged files: the stat cache answers, nothing new is stored
        again.log_dataset("ckpt", folder, save=True)
        again.log_pretrained("single", path_or_uri=folder / "model.safetensors", save=True)
    assert {o.id for o in store.iter_objects()} == objects_after_one_run
    assert view(again).latest_asset("pretrained", "single")["chunks"] == single["chunks"]
    assert view(again).latest_asset("dataset", "ckpt")["id"] == dataset["id"]
    assert restored(storage, again.id, "--dataset", "ckpt") == files


def test_checkpoints_written_by_torch_round_trip(tmp_path, storage):
    torch = pytest.importorskip("torch", reason="torch is not installed: the torch.save round trip is skipped "
                                                "(the zip layout is built byte by byte in the other tests)")
    generator = torch.Generator().manual_seed(1)
    frozen = {f"body.{i}.weight": torch.randn(256, 512, generator=generator) for i in range(8)}
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for epoch in range(3):
        torch.save({**frozen, "head.weight": torch.randn(256, 512, generator=generator)}, folder / f"epoch_{epoch}.pt")
    files = tree_bytes(folder)
    run_id = save_folder("torch", "ckpt", folder)
    assert restored(storage, run_id, "--dataset", "ckpt") == files
    shared = {blake3_id(t.numpy().tobytes()) for t in frozen.values()}
    lists = list(chunk_lists(store_of(storage)).values())
    assert len(lists) == 3
    assert all(shared <= {oid for oid, _ in listing.chunks} for listing in lists)
    assert cli_json(storage, "verify")["ok"] is True


# -- the frozen-backbone sweep ------------------------------------------------------------------------------

RUNS, EPOCHS = 10, 5


def sweep_file(run: int, epoch: int) -> tuple[str, bytes]:
    """Run ``run``'s checkpoint of ``epoch``: per-epoch names, safetensors and torch zips in turn."""
    fmt = "safetensors" if (run + epoch) % 2 == 0 else "pt"
    ext = "safetensors" if fmt == "safetensors" else "pt"
    return f"epoch_{epoch}.{ext}", model_file(fmt, f"epoch_{epoch}", run * 100 + epoch, run=run, epoch=epoch)


def test_a_frozen_backbone_sweep_stores_the_backbone_once(tmp_path, storage):
    run_ids, sizes = [], {}
    logical_expected = 0
    for r in range(RUNS):
        out = tmp_path / f"run{r}" / "checkpoints"
        out.mkdir(parents=True)
        with rn.init(path="sweep") as run:
            offered = 0
            for epoch in range(EPOCHS):
                name, data = sweep_file(r, epoch)
                assert len(data) >= 5 * MiB
                write(out / name, data)
                sizes[(r, epoch)] = len(data)
                offered += len(data)
                logical_expected += offered  # each version holds every checkpoint written so far
                run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0,
                                      mode="overwrite_versions")
        run_ids.append(run.id)
        shutil.rmtree(out.parent)  # the sources go: only the store holds them now

    store = store_of(storage)
    physical = object_bytes(store)
    unique = FROZEN_BYTES + sum(size - FROZEN_BYTES for size in sizes.values())
    logical = sum(sizes.values())
    assert physical <= 1.3 * unique, (f"{physical / MiB:.1f} MiB stored for {unique / MiB:.1f} MiB of unique bytes "
                                      f"({logical / MiB:.0f} MiB of checkpoints)")
    assert physical >= FROZEN_BYTES + RUNS * EPOCHS * 2 * TENSOR  # every head tensor is new bytes

    du = cli_json(storage, "du")
    assert du["logical_bytes"] == logical_expected
    assert du["physical_bytes"] == du["store_bytes"] == physical
    assert du["unreferenced_bytes"] == 0  # every version is a root
    assert du["dedup_ratio"] == pytest.approx(logical_expected / physical)
    assert sorted(r["id"] for r in du["runs"]) == sorted(run_ids)
    for usage in du["runs"]:
        assert usage["exclusive_bytes"] < usage["physical_bytes"] <= physical  # the backbone is never exclusive
        assert usage["physical_bytes"] - usage["exclusive_bytes"] >= FROZEN_BYTES
    assert cli_json(storage, "verify")["ok"] is True

    for r, run_id in enumerate(run_ids):
        want = {f"checkpoints/{name}": data for name, data in (sweep_file(r, e) for e in range(EPOCHS))}
        assert restored(storage, run_id, "--outputs") == want
    first_version = restored(storage, run_ids[3], "--outputs", "--version", "1")
    assert first_version == {f"checkpoints/{sweep_file(3, 0)[0]}": sweep_file(3, 0)[1]}


# -- gc, verify, export/import, du ------------------------------------------------------------------------------


def make_runs(tmp_path: Path, count: int, prefix: str = "team",
              formats: tuple[str, ...] = ("safetensors", "pt")) -> tuple[list[str], dict[str, dict[str, bytes]]]:
    """``count`` finished runs, each saving a folder with one checkpoint of the frozen model (formats in turn)."""
    run_ids, contents = [], {}
    for r in range(count):
        fmt = formats[r % len(formats)]
        name = f"epoch_{r}.{fmt}"
        folder = tmp_path / f"{prefix}{r}"
        write(folder / name, model_file(fmt, f"epoch_{r}", 500 + r, run=r))
        write(folder / "notes.txt", f"run {r}\n".encode())
        run_id = save_folder(f"{prefix}/r{r}", "ckpt", folder)
        run_ids.append(run_id)
        contents[run_id] = tree_bytes(folder)
    return run_ids, contents


def test_gc_after_deleting_runs_that_share_chunks_keeps_what_live_runs_need(tmp_path, storage):
    run_ids, contents = make_runs(tmp_path, 6)
    dead, live = run_ids[:3], run_ids[3:]
    heads_of_dead = {blake3_id(t) for r in (0, 2) for t in head(500 + r).values()}  # the safetensors ones
    store = store_of(storage)
    assert heads_of_dead | FROZEN_IDS <= {o.id for o in store.iter_objects()}

    cli_run(storage, "rm", *dead, "--yes")
    before = object_bytes(store)
    freed = cli_json(storage, "gc", "--grace", "0s")
    assert freed["refused"] is None and freed["bytes_freed"] == before - object_bytes(store) > 0
    left = {o.id for o in store.iter_objects()}
    assert FROZEN_IDS <= left  # the backbone is still needed by the live runs
    assert heads_of_dead.isdisjoint(left)  # what only the deleted runs held is gone
    assert_every_listed_chunk_exists(storage)
    assert cli_json(storage, "verify")["ok"] is True
    for run_id in live:
        assert restored(storage, run_id, "--dataset", "ckpt") == contents[run_id]


def test_verify_names_every_run_that_needs_a_corrupt_chunk(tmp_path, storage):
    run_ids, contents = make_runs(tmp_path, 3, formats=("safetensors",))
    write(tmp_path / "other" / "random.bin", seeded(9, 5 * MiB))  # chunked by CDC, no backbone in it
    other = save_folder("team/other", "ckpt", tmp_path / "other")
    store = store_of(storage)
    victim = blake3_id(FROZEN["backbone.layer5.weight"])
    path = store.path_for(victim)
    damaged = bytearray(path.read_bytes())
    damaged[1000] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(damaged))
    path.chmod(0o444)

    report = cli_json(storage, "verify", expect=1)
    assert report["ok"] is False
    assert report["corrupt"] == [victim]
    assert sorted(report["needed_by"][victim]) == sorted(run_ids)
    assert other not in report["needed_by"][victim]

    target = tmp_path / "broken"
    result = cli_run(storage, "restore", run_ids[0], "--dataset", "ckpt", "--to", target, expect=1)
    assert victim in result.stderr and "Traceback" not in result.output
    written = tree_bytes(target) if target.exists() else {}
    assert "epoch_0.safetensors" not in written  # never a file with the corrupt chunk's bytes in it
    assert restored(storage, other, "--dataset", "ckpt") == tree_bytes(tmp_path / "other")


def test_a_restore_missing_a_chunk_is_refused_before_a_file_is_written(tmp_path, storage):
    """As for a missing blob (store/materialize.py: a refused restore leaves the target as it was)."""
    folder = tmp_path / "ckpt"
    write(folder / "a_small.txt", b"written first when a restore starts\n")
    write(folder / "z_model.safetensors", model_file("safetensors", "z", 1))
    run_id = save_folder("missing", "ckpt", folder)
    store = store_of(storage)
    tree = Api(storage).run(run_id).latest_asset("dataset", "ckpt").ref.id
    victim = list_chunks(store, dict(walk_tree(store, tree))["z_model.safetensors"].chunks)[-1][0]
    os.unlink(store.path_for(victim))

    report = cli_json(storage, "verify", expect=1)
    assert report["missing"] == [victim] and report["needed_by"] == {victim: [run_id]}
    target = tmp_path / "restore-here"
    result = cli_run(storage, "restore", run_id, "--dataset", "ckpt", "--to", target, expect=1)
    assert victim in result.stderr and "Traceback" not in result.output
    assert not target.exists() or list(target.iterdir()) == []


def test_export_and_import_into_a_fresh_root_restore_chunked_files_byte_exact(tmp_path, storage):
    run_ids, contents = make_runs(tmp_path, 4)
    chosen = run_ids[1:3]
    bundle = tmp_path / "two.rnbundle"
    exported = cli_json(storage, "export", *chosen, "-o", bundle)
    store = store_of(storage)
    reached = Walker(store).walk([ref for run_id in chosen for ref in Api(storage).run(run_id).roots()]).reached
    assert exported["objects"] == len(reached)  # each shared chunk once
    assert exported["object_bytes"] == sum(store.size(oid) for oid in reached)

    other = tmp_path / "elsewhere"
    imported = cli_json(other, "import", bundle)
    assert sorted(imported["runs"]) == sorted(chosen)
    assert cli_json(other, "verify")["ok"] is True
    for run_id in chosen:
        assert restored(other, run_id, "--dataset", "ckpt") == contents[run_id]
    assert cli_json(other, "import", bundle)["objects"] == 0  # idempotent
    assert len(chunk_lists(store_of(other))) == 2
    # The imported store holds chunk lists, so its config must say so (docs/format.md 3 and 4.3): a
    # Runicorn that does not know chunk lists must refuse it instead of misreading it.
    assert "chunks" in json.loads((other / "store" / "config.json").read_text())["extensions"]


def test_du_counts_only_this_run_at_chunk_level(tmp_path, storage):
    """X's checkpoint holds only tensors that P's and Q's hold too: deleting X frees its header chunk and its list."""
    p_tensors = {**FROZEN, **head(1)}
    q_tensors = {**FROZEN, **head(2)}
    x_tensors = {**FROZEN, **head(1), **{f"{k}.copy": v for k, v in head(2).items()}}
    runs = {}
    for name, tensors in (("p", p_tensors), ("q", q_tensors), ("x", x_tensors)):
        path = write(tmp_path / name / "model.safetensors", safetensors_bytes(tensors, {"run": name}))
        with rn.init(path=f"du/{name}") as run:
            run.log_dataset("model", path, save=True)  # one file: the manifest names its chunk list
        runs[name] = run.id
    store = store_of(storage)
    api = Api(storage)
    lists = {name: api.run(run_id).latest_asset("dataset", "model").ref.id for name, run_id in runs.items()}
    reached = {name: {lists[name]} | {oid for oid, _ in list_chunks(store, lists[name])} for name in runs}

    def only(name: str) -> set:
        return reached[name] - set().union(*(reached[n] for n in runs if n != name))

    x_header = list_chunks(store, lists["x"])[0][0]
    assert only("x") == {lists["x"], x_header}  # every tensor of X is shared
    usage = {r["id"]: r for r in cli_json(storage, "du")["runs"]}
    for name, run_id in runs.items():
        assert usage[run_id]["exclusive_bytes"] == sum(store.size(oid) for oid in only(name)), name
        assert usage[run_id]["physical_bytes"] == sum(store.size(oid) for oid in reached[name]), name

    before = object_bytes(store)
    cli_run(storage, "rm", runs["x"], "--yes")
    freed = cli_json(storage, "gc", "--grace", "0s")
    assert before - object_bytes(store) == freed["bytes_freed"] == usage[runs["x"]]["exclusive_bytes"]
    del reached["x"]
    runs.pop("x")
    usage = {r["id"]: r for r in cli_json(storage, "du")["runs"]}
    for name, run_id in runs.items():  # now P alone holds head(1), Q alone head(2)
        assert usage[run_id]["exclusive_bytes"] == sum(store.size(oid) for oid in only(name)), name
        assert {blake3_id(t) for t in head(1 if name == "p" else 2).values()} <= only(name)
    assert restored(storage, runs["p"], "--dataset", "model") == {"model.safetensors": safetensors_bytes(p_tensors,
                                                                                                       {"run": "p"})}


# -- writers, crashes and gc ------------------------------------------------------------------------------------

CRASH_CHILD = r'''
import sys
import runicorn as rn
storage, source, run_id = sys.argv[1:4]
run = rn.init(path="crash", storage=storage, run_id=run_id)
run.log_dataset("big", source, save=True)
run.finish()
print("saved")
'''


def crash_child(storage: Path, source: Path, run_id: str, crash: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if crash:
        env[faults.ENV] = crash
    return subprocess.run([sys.executable, "-c", CRASH_CHILD, str(storage), str(source), run_id], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("shape", ["folder", "single-file"])
def test_kill_9_during_a_chunked_ingest_leaves_no_list_naming_a_missing_chunk(tmp_path, monkeypatch, shape):
    monkeypatch.delenv(faults.ENV, raising=False)
    assert faults._limit is None, f"the test process itself was started with {faults.ENV} set"
    folder = tmp_path / "big"
    write(folder / "a.safetensors", model_file("safetensors", "a", 1, epoch=1))
    if shape == "folder":
        write(folder / "b.pt", model_file("pt", "b", 2, epoch=2))
        write(folder / "c.bin", seeded(3, 6 * MiB))
    source = folder if shape == "folder" else folder / "a.safetensors"
    files = tree_bytes(folder)

    calibration = tmp_path / "calibration"
    done = crash_child(calibration, source, "calibrate", None)
    assert done.returncode == 0, done.stderr
    published = len(list((calibration / "store" / "objects").glob("*/*")))
    assert len(chunk_lists(store_of(calibration))) == len(files)

    points = [f"objects:{n}" for n in sorted({1, 2, published // 3, published // 2, published - 2, published - 1})]
    points += [f"bytes:{n}" for n in (MiB, 3 * MiB, 11 * MiB) if n < sum(map(len, files.values()))]
    for point in points:
        storage = tmp_path / point.replace(":", "-")
        killed = crash_child(storage, source, "crashed", point)
        assert killed.returncode == -9, f"{point}: {killed.returncode} {killed.stderr[-500:]}"
        assert_every_listed_chunk_exists(storage)
        assert cli_json(storage, "verify")["ok"] is True, point
        again = crash_child(storage, source, "after", None)
        assert again.returncode == 0, f"{point}: {again.stderr[-2000:]}"
        assert_every_listed_chunk_exists(storage)
        assert restored(storage, "after", "--dataset", "big") == files, point


def test_gc_with_no_grace_beside_a_run_reusing_a_chunked_file_takes_nothing_that_run_needs(tmp_path, storage,
                                                                                            monkeypatch):
    """A file saved before, its run since deleted and its objects old: the next run reuses them through the stat
    cache. A gc with no grace that runs after that run's ingest and before its manifest line is written must keep
    every object the run is about to name (the lease, and the writer refreshing what it reuses: gc rules 2 and 5)."""
    folder = tmp_path / "data"
    write(folder / "model.safetensors", model_file("safetensors", "model", 1))
    backdate(folder, 7200)  # old files: the stat cache trusts them
    seed = save_folder("seed", "model", folder)
    cli_run(storage, "rm", seed, "--yes")
    for path in (storage / "store" / "objects").glob("*/*"):
        os.utime(path, (time.time() - 7200,) * 2)

    import runicorn.sdk.assets as assets_module

    class IngestThenGc(assets_module.Ingester):
        def ingest(self, path):
            result = super().ingest(path)
            collect_garbage(Api(storage), grace_seconds=0)
            return result

    with monkeypatch.context() as patched:
        patched.setattr(assets_module, "Ingester", IngestThenGc)
        reuse = save_folder("reuse", "model", folder)
    assert_every_listed_chunk_exists(storage)
    assert cli_json(storage, "verify")["ok"] is True
    assert restored(storage, reuse, "--dataset", "model") == tree_bytes(folder)
