"""Backup and restore of a data home: real SQLite files, a real writer process, real models."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance import audit
from appliance.backup import (
    MANIFEST,
    BackupDamaged,
    backup_home,
    is_backed_up,
    parse_manifest,
    render_manifest,
    restore_home,
)
from appliance.errors import HomeError
from appliance.home import DataHome
from appliance.store.db import connect, schema_version
from tests.conftest import CliOutcome


def _fill(home: DataHome) -> None:
    """A few files of the kinds a home holds, and some that must stay out of a backup."""
    (home.dir("lake") / "loans").mkdir()
    (home.dir("lake") / "loans" / "abc123.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 40)
    (home.dir("lake") / "loans" / ".tmp-run-3.parquet").write_bytes(b"half written")
    (home.dir("lake") / "loans" / ".ingest.lock").write_text("")
    (home.dir("models") / "credit" / "1").mkdir(parents=True)
    (home.dir("models") / "credit" / "1" / "model.ubj").write_bytes(b"\x00booster\xff" * 100)
    (home.dir("models") / "credit" / ".staging-0f0f").mkdir()
    (home.dir("models") / "credit" / ".staging-0f0f" / "model.ubj").write_bytes(b"unfinished")
    (home.dir("inbox") / "pending.csv").write_text("a,b\n1,2\n")
    (home.dir("inbox") / "done").mkdir()
    (home.dir("inbox") / "done" / "run-1-old.csv").write_text("a,b\n0,0\n")
    (home.dir("logs") / "errors.log").write_text("a traceback\n")
    (home.root / "appliance.toml").write_text("[service]\napi_port = 8750\n")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("appliance.db")
    }


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("lake/loans/abc.parquet", True),
        ("models/credit/3/model.ubj", True),
        ("appliance.toml", True),
        ("inbox/pending.csv", True),
        ("quarantine/loans/run-2.parquet", True),
        ("appliance.db", False),  # through the online backup API instead
        ("appliance.db-wal", False),
        ("logs/errors.log", False),
        ("inbox/done/run-1-a.csv", False),
        ("lake/loans/.tmp-run-3.parquet", False),
        ("lake/loans/.ingest.lock", False),
        ("models/credit/.staging-ab12/model.ubj", False),
        ("publish/.scores.hyper.123.tmp", False),
        ("MANIFEST.sha256", False),
        ("lake/MANIFEST.sha256", True),  # only the backup's own files at the top are ours
    ],
)
def test_what_a_backup_holds(path: str, kept: bool) -> None:
    assert is_backed_up(PurePosixPath(path)) is kept


_names = st.text(alphabet="abcXYZ019_-. é", min_size=1, max_size=12).filter(
    lambda s: s.strip(".") != "" and s == s.strip() and "  " not in s
)


@given(
    st.dictionaries(
        st.lists(_names, min_size=1, max_size=3).map("/".join),
        st.binary(max_size=8).map(lambda b: hashlib.sha256(b).hexdigest()),
    )
)
def test_manifest_round_trips(hashes: dict[str, str]) -> None:
    text = render_manifest(hashes)
    assert parse_manifest(text) == hashes
    assert text.splitlines() == sorted(text.splitlines(), key=lambda line: line[66:])


@pytest.mark.parametrize(
    "line",
    ["abc  lake/x", "0" * 64 + " lake/x", "0" * 64 + "  /etc/passwd", "0" * 64 + "  a/../../b"],
)
def test_a_bad_manifest_line_is_named(line: str) -> None:
    with pytest.raises(BackupDamaged, match="line 2 is not"):
        parse_manifest("0" * 64 + "  ok\n" + line + "\n")


def test_backup_and_restore_give_back_every_file_and_the_store(
    home: DataHome, tmp_path: Path
) -> None:
    _fill(home)
    db = connect(home.db_path)
    audit.record(db, "tester", "probe", "before backup", {"n": 1})
    db.close()
    lines: list[str] = []
    report = backup_home(home, tmp_path / "bk", progress=lines.append, actor="tester")
    assert any("online backup" in line for line in lines)
    assert report.skipped == ("logs/", "inbox/done/")
    manifest = parse_manifest((tmp_path / "bk" / MANIFEST).read_text())
    assert report.files == len(manifest) and "appliance.db" in manifest
    assert not any(".tmp-" in p or ".staging-" in p or p.endswith(".lock") for p in manifest)
    info = json.loads((tmp_path / "bk" / "BACKUP.json").read_text())
    assert info["schema_version"] == report.schema_version == schema_version(connect(home.db_path))
    assert not list(tmp_path.glob(".bk.partial-*"))

    restored = restore_home(tmp_path / "bk", DataHome(tmp_path / "new"), actor="tester")
    new = DataHome(tmp_path / "new")
    expected = {
        k: v for k, v in _tree(home.root).items()
        if is_backed_up(PurePosixPath(k))
    }  # fmt: skip
    assert _tree(new.root) == expected
    assert restored.files == report.files and restored.replaced is None
    assert all(new.dir(name).is_dir() for name in ("logs", "inbox", "lake", "publish"))
    new_db = connect(new.db_path)
    actions = [r[0] for r in new_db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions[-2:] == ["probe", "home.restore"]  # the backup itself is audited after it
    assert audit.verify(new_db).ok
    live = [r[0] for r in connect(home.db_path).execute("SELECT action FROM audit_log")]
    assert live[-1] == "home.backup"


def test_one_changed_byte_in_a_backup_is_refused_naming_the_file(
    home: DataHome, tmp_path: Path
) -> None:
    _fill(home)
    backup_home(home, tmp_path / "bk")
    victim = tmp_path / "bk" / "models" / "credit" / "1" / "model.ubj"
    data = bytearray(victim.read_bytes())
    data[37] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(BackupDamaged, match=r"models/credit/1/model\.ubj has SHA-256"):
        restore_home(tmp_path / "bk", DataHome(tmp_path / "new"))
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())
    assert not list(tmp_path.glob(".new.restore-*"))


def test_a_missing_or_unlisted_file_is_refused(home: DataHome, tmp_path: Path) -> None:
    _fill(home)
    backup_home(home, tmp_path / "bk")
    (tmp_path / "bk" / "lake" / "planted.parquet").write_bytes(b"x")
    with pytest.raises(BackupDamaged, match=r"lake/planted\.parquet is not in MANIFEST"):
        restore_home(tmp_path / "bk", DataHome(tmp_path / "a"))
    (tmp_path / "bk" / "lake" / "planted.parquet").unlink()
    (tmp_path / "bk" / "inbox" / "pending.csv").unlink()
    with pytest.raises(BackupDamaged, match=r"inbox/pending\.csv is listed .* but missing"):
        restore_home(tmp_path / "bk", DataHome(tmp_path / "a"))
    with pytest.raises(BackupDamaged, match="not an appliance backup"):
        restore_home(tmp_path / "a-folder-that-is-no-backup", DataHome(tmp_path / "b"))


def test_a_non_empty_home_is_replaced_only_when_forced_and_kept_aside(
    home: DataHome, tmp_path: Path
) -> None:
    _fill(home)
    backup_home(home, tmp_path / "bk")
    other = DataHome(tmp_path / "other")
    other.root.mkdir()
    (other.root / "precious.txt").write_text("keep me")
    with pytest.raises(HomeError, match=r"is not empty.*--force"):
        restore_home(tmp_path / "bk", other)
    assert (other.root / "precious.txt").read_text() == "keep me"
    report = restore_home(tmp_path / "bk", other, force=True)
    assert report.replaced is not None
    assert (report.replaced / "precious.txt").read_text() == "keep me"
    assert (other.root / "appliance.toml").is_file() and not (other.root / "precious.txt").exists()


def test_a_backup_inside_the_home_or_into_a_full_folder_is_refused(
    home: DataHome, tmp_path: Path
) -> None:
    with pytest.raises(HomeError, match="inside the data home"):
        backup_home(home, home.root / "publish" / "bk")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(HomeError, match="not an empty folder"):
        backup_home(home, tmp_path / "full")
    with pytest.raises(HomeError, match=r"appliance --home .* init"):
        backup_home(DataHome(tmp_path / "no-home"), tmp_path / "bk")


def test_the_commands_back_up_and_restore(
    run_cli: Callable[..., CliOutcome], home: DataHome, tmp_path: Path
) -> None:
    _fill(home)
    done = run_cli("backup", str(tmp_path / "bk"))
    assert done.exit_code == 0, done.stderr
    assert "files" in done.stdout and "left out on purpose: logs/, inbox/done/" in done.stdout
    assert "snapshot of the store" in done.stderr  # a progress line per step
    again = run_cli("backup", str(tmp_path / "bk"))
    assert again.exit_code == 2 and "not an empty folder" in again.stderr
    refused = run_cli("restore", str(tmp_path / "bk"))  # the home itself is not empty
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    new = tmp_path / "new"
    out = subprocess.run(
        [sys.executable, "-m", "appliance", "--home", str(new), "restore", str(tmp_path / "bk")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"into {new}" in out.stdout
    assert (new / "inbox" / "pending.csv").read_text() == "a,b\n1,2\n"


_WRITER = """
import hashlib, os, sys, time
from pathlib import Path
from appliance import audit
from appliance.store.db import connect
root, stop = Path(sys.argv[1]), Path(sys.argv[2])
db = connect(root / "appliance.db")
i = 0
while not stop.exists():
    data = os.urandom(2048) * 8
    final = root / "publish" / f"probe-{i}.bin"
    temp = final.with_name(f".{final.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, final)
    audit.record(db, "writer", "probe.write", f"publish/{final.name}",
                 {"sha256": hashlib.sha256(data).hexdigest()})
    i += 1
print(i)
"""


def _probe_writes(db_path: Path) -> list[tuple[str, str]]:
    db = connect(db_path)
    rows = db.execute(
        "SELECT subject, details FROM audit_log WHERE action = 'probe.write' ORDER BY seq"
    ).fetchall()
    db.close()
    return [(subject, json.loads(details)["sha256"]) for subject, details in rows]


def _predict_production(home: DataHome, rows: int = 300) -> tuple[str, np.ndarray]:
    """Load the production model with its feature pipeline and score the first rows."""
    from appliance.features.pipeline import FeaturePipeline
    from appliance.features.sources import LakeSources
    from appliance.registry import load_booster, resolve
    from appliance.training.booster import predict

    db = connect(home.db_path)
    mv = resolve(db, "credit_default", "production")
    pipeline = FeaturePipeline.load(home.inside(mv.booster_path).parent / "feature_pipeline.json")
    sources = LakeSources(home, db)
    table = sources.table("credit_applications").slice(0, rows)
    x = pipeline.transform(table, sources)
    scores = predict(load_booster(home, mv), x, pipeline.xgboost_types, pipeline.names)
    db.close()
    return mv.booster_sha256, scores


@pytest.mark.slow
def test_a_backup_taken_while_a_writer_writes_restores_the_same_model_and_scores(
    tmp_path: Path,
) -> None:
    from appliance.registry import promote
    from appliance.training.run import train_usecase
    from appliance.usecase.locate import locate_spec
    from tests.lake_fixtures import build_demo_lake

    home = build_demo_lake(tmp_path / "home")
    db = connect(home.db_path)
    spec = locate_spec(home, "credit_default")
    version = train_usecase(home, db, spec, actor="t").version
    promote(db, "credit_default", version.version, actor="t", reason="r", override_fairness="t")
    db.close()
    booster_hash, scores = _predict_production(home)

    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(home.root), str(stop)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(_probe_writes(home.db_path)) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        report = backup_home(home, tmp_path / "bk")
        time.sleep(0.2)
    finally:
        stop.touch()
        written = int(writer.communicate(timeout=30)[0])
    assert writer.returncode == 0

    new = DataHome(tmp_path / "restored")
    restore_home(tmp_path / "bk", new)
    in_backup = _probe_writes(new.db_path)
    # the writer was busy before, during and after the snapshot
    assert 20 <= len(in_backup) < written
    # every write the snapshot recorded has its file, with the recorded bytes
    for subject, sha in in_backup:
        assert hashlib.sha256(new.inside(subject).read_bytes()).hexdigest() == sha, subject
    assert audit.verify(connect(new.db_path)).ok
    assert report.schema_version == schema_version(connect(new.db_path))

    restored_hash, restored_scores = _predict_production(new)
    assert restored_hash == booster_hash
    np.testing.assert_array_equal(restored_scores, scores)
    assert scores.std() > 0  # real predictions, not a constant
