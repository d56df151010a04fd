from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from appliance.cli.main import COMMANDS, cli
from tests.conftest import CliOutcome

HEAVY = ("pyarrow", "numpy", "numba", "matplotlib", "sqlite_utils", "xgboost", "jinja2")


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys; from appliance.cli.main import main\n"
        "try: main(['--help'])\nexcept SystemExit: pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_loads_and_has_help() -> None:
    import click

    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.help, name


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    missing = [name for name in COMMANDS if f"appliance {name}" not in readme]
    assert not missing


def test_init_is_idempotent_and_audited(run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("init").exit_code == 0
    again: CliOutcome = run_cli("init")
    assert again.exit_code == 0 and "data home ready" in again.stdout
    assert run_cli("audit", "verify").exit_code == 0


def test_an_uninitialised_home_gets_a_message_not_a_traceback(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "appliance", "--home", str(tmp_path / "nope"), "datasets"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert "appliance --home" in out.stderr and "init" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_source_name_cannot_escape_the_home(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    outcome = run_cli("ingest", str(data), "--source", "../../etc/passwd")
    assert outcome.exit_code == 2 and "not allowed" in outcome.stderr


def test_an_unknown_source_lists_the_known_ones(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    outcome = run_cli("ingest", str(data), "--source", "nosuch")
    assert outcome.exit_code == 3 and "known sources" in outcome.stderr


def test_a_broken_schema_file_is_named(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    schema = tmp_path / "s.toml"
    schema.write_text('name = "s"\n[[columns]]\nname = "a"\ntype = "integer"\n')
    outcome = run_cli("ingest", str(data), "--schema", str(schema))
    assert outcome.exit_code == 4
    assert "s.toml" in outcome.stderr and "'integer' is not one of" in outcome.stderr


def test_ingest_cli_reports_accounting(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "x.csv"
    data.write_text("a\n1\nx\n")
    schema = tmp_path / "s.toml"
    schema.write_text('name = "s"\n[[columns]]\nname = "a"\ntype = "int"\n')
    outcome = run_cli("ingest", str(data), "--schema", str(schema))
    assert outcome.exit_code == 0
    assert "rows_in=2 rows_ok=1 rows_quarantined=1" in outcome.stdout
    assert "already ingested" in run_cli("ingest", str(data), "--schema", str(schema)).stdout


def test_inbox_sweep_ingests_matching_files_and_keeps_broken_ones(run_cli, home) -> None:  # type: ignore[no-untyped-def]
    (home.dir("sources") / "pets.toml").write_text(
        'name = "pets"\ninbox_pattern = "pets_*.csv"\n[[columns]]\nname = "n"\ntype = "int"\n'
    )
    inbox = home.dir("inbox")
    (inbox / "pets_1.csv").write_text("n\n1\n2\n")
    (inbox / "pets_2.csv").write_bytes(b"\x00\x01binary")
    (inbox / "other.csv").write_text("x\n1\n")
    outcome = run_cli("ingest")
    assert outcome.exit_code == 1
    assert "pets_1.csv: run" in outcome.stdout and "binary" in outcome.stderr
    assert "other.csv: no source" in outcome.stderr
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["other.csv"]
    assert [p.name for p in (inbox / "done").iterdir()] == ["run-1-pets_1.csv"]
    kept = list((home.dir("quarantine") / "pets" / "files").iterdir())
    assert [p.read_bytes() for p in kept] == [b"\x00\x01binary"]
    listing = run_cli("datasets").stdout
    assert "pets" in listing and "2 rows" in listing


def test_a_bug_prints_one_line_and_logs_the_traceback(run_cli, home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import appliance.lake

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(appliance.lake, "dataset_versions", broken)  # a stand-in for a bug
    outcome = run_cli("datasets", "anything")
    assert outcome.exit_code == 70
    assert "internal error: RuntimeError: boom" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert "RuntimeError: boom" in (home.root / "logs" / "errors.log").read_text()
