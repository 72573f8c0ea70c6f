"""verify's advice, followed word for word, repairs a damaged object (issue 12, "Things that mislead").

The user's steps: two storage roots hold the same run (copied with export/import). One byte of an object
is damaged in one root; `runicorn verify` fails and advises "`runicorn export` of the same runs from another
storage root, then `runicorn import BUNDLE` here". The user does exactly that; verify passes again.
"""

import json
import os
import stat

from cli_support import RUN_A, object_files, object_path


def test_verify_advice_followed_word_for_word_repairs_a_damaged_object(samples, invoke, tmp_path):
    good_root, damaged_root = samples.root, tmp_path / "laptop-root"
    # The same run in two roots: export from the first, import into the second.
    invoke("export", RUN_A, "-o", tmp_path / "copy.rnbundle", expect=0)
    invoke("import", tmp_path / "copy.rnbundle", storage=damaged_root, expect=0)
    invoke("verify", storage=damaged_root, expect=0)

    # One byte of the largest object (the checkpoint model.pt) goes bad; objects are read-only.
    oid = max(object_files(damaged_root).items(), key=lambda item: item[1])[0]
    path = object_path(damaged_root, oid)
    good = path.read_bytes()
    os.chmod(path, stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)
    with open(path, "r+b") as handle:
        handle.seek(len(good) // 2)
        handle.write(bytes([good[len(good) // 2] ^ 0xFF]))

    verify = invoke("verify", storage=damaged_root, expect=1)
    assert f"corrupt: {oid}" in verify.output and RUN_A in verify.output, verify.output
    advice = verify.output.strip().splitlines()[-1]
    assert "`runicorn export` of the same runs from another storage root" in advice, advice
    assert "then `runicorn import BUNDLE` here" in advice, advice

    # The advice, word for word: export the same runs from the root holding a good copy, import it here.
    bundle = tmp_path / "good.rnbundle"
    invoke("export", RUN_A, "-o", bundle, storage=good_root, expect=0)
    imported = invoke("import", bundle, storage=damaged_root, expect=0)
    assert "repaired 1 damaged object with the bundle's good copies" in imported.output, imported.output
    assert "already here" in imported.output  # the run itself was

    assert invoke("verify", storage=damaged_root, expect=0).output.strip().endswith("ok")
    assert path.read_bytes() == good
    assert not stat.S_IMODE(path.stat().st_mode) & 0o222  # read-only again, as every object

    # Importing the same bundle again has nothing left to repair.
    again = json.loads(invoke("import", bundle, "--json", storage=damaged_root, expect=0).output)
    assert again["objects_repaired"] == 0 and again["objects"] == 0
