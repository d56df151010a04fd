"""`appliance keys ...` and `appliance tls self-signed`, through the real entry point
(in-process, and once as a separate process)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.access import get_key, verify_key
from appliance.home import DataHome
from appliance.store.db import connect
from tests.conftest import CliOutcome

Run = Callable[..., CliOutcome]
KEY_LINE = re.compile(r"apk_([0-9a-f]{12})_[0-9A-Za-z]{43}")


def created(run_cli: Run, role: str = "scorer", name: str = "branch app") -> tuple[str, str]:
    outcome = run_cli("keys", "create", "--role", role, "--name", name)
    assert outcome.exit_code == 0, outcome.stderr
    match = KEY_LINE.fullmatch(outcome.stdout.strip())
    assert match is not None, outcome.stdout
    return match.group(1), match.group(0)


def test_create_prints_the_key_once_and_it_works(run_cli: Run, home: DataHome) -> None:
    outcome = run_cli("keys", "create", "--role", "analyst", "--name", "BI team")
    plaintext = outcome.stdout.strip()
    assert KEY_LINE.fullmatch(plaintext)  # stdout is the key alone, for scripts
    assert "only this once" in outcome.stderr and "cannot be recovered" in outcome.stderr
    key = verify_key(connect(home.db_path), plaintext)
    assert key is not None and (key.role, key.name) == ("analyst", "BI team")
    assert run_cli("audit", "verify").exit_code == 0


def test_list_shows_every_key_but_never_a_secret(run_cli: Run, home: DataHome) -> None:
    assert "no API keys yet" in run_cli("keys", "list").stdout
    scorer, scorer_key = created(run_cli, "scorer", "branch 12")
    admin, admin_key = created(run_cli, "admin", "ops")
    assert run_cli("keys", "revoke", admin).exit_code == 0
    listing = run_cli("keys", "list").stdout
    header, *rows = [re.split(r" {2,}", line) for line in listing.splitlines()]
    assert header == ["id", "role", "created", "revoked", "last used", "name"]
    cells = {row[0]: row for row in rows}
    assert set(cells) == {scorer, admin}
    assert cells[scorer][1:] == ["scorer", cells[scorer][2], "-", "never", "branch 12"]
    revoked = get_key(connect(home.db_path), admin)
    by = f"{(revoked.revoked_at or '')[:19]} by {revoked.revoked_by}"
    assert cells[admin][3] == by and cells[admin][5] == "ops"
    for plaintext in (scorer_key, admin_key):
        assert plaintext.rsplit("_", 1)[1] not in listing


def test_revoke_stops_the_key_and_a_second_revoke_says_when(run_cli: Run,
                                                            home: DataHome) -> None:
    key_id, plaintext = created(run_cli)
    outcome = run_cli("keys", "revoke", key_id)
    assert outcome.exit_code == 0 and f"revoked key {key_id}" in outcome.stdout
    assert verify_key(connect(home.db_path), plaintext) is None
    again = run_cli("keys", "revoke", key_id)
    assert again.exit_code == 11 and "already revoked" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [(("revoke", "0123456789ab"), 3, "no API key with id"),
     (("create", "--role", "root", "--name", "x"), 2, "Invalid value for '--role'"),
     (("create", "--role", "admin", "--name", " "), 11, "key name"),
     (("create", "--role", "admin"), 2, "Missing option '--name'")],
)
def test_mistakes_get_one_line_and_an_exit_code(run_cli: Run, args: tuple[str, ...], code: int,
                                                says: str) -> None:
    outcome = run_cli("keys", *args)
    assert outcome.exit_code == code and says in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_keys_need_an_initialised_home(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "appliance", "--home", str(tmp_path / "none"), "keys", "list"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2 and "init" in out.stderr and "Traceback" not in out.stderr


def test_create_in_a_separate_process_prints_only_the_key(home: DataHome) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "appliance", "--home", str(home.root), "keys", "create",
         "--role", "scorer", "--name", "teller"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "APPLIANCE_ACTOR": "maria"},
    )
    assert out.returncode == 0, out.stderr
    assert KEY_LINE.fullmatch(out.stdout.strip())
    key = verify_key(connect(home.db_path), out.stdout.strip())
    assert key is not None and key.created_by == "maria"


# --- tls -----------------------------------------------------------------------------------


def _load(folder: Path):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    cert = x509.load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    key = load_pem_private_key((folder / "key.pem").read_bytes(), password=None)
    return cert, key


def test_tls_self_signed_writes_a_matching_owner_only_pair(run_cli: Run, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    out = tmp_path / "tls" / "lab"
    outcome = run_cli("tls", "self-signed", "--out", str(out), "--host", "scoring.bank.local",
                      "--host", "10.1.2.3", "--days", "30")
    assert outcome.exit_code == 0, outcome.stderr
    assert stat.S_IMODE((out / "key.pem").stat().st_mode) == 0o600
    cert, key = _load(out)
    raw = (Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert cert.public_key().public_bytes(*raw) == key.public_key().public_bytes(*raw)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["scoring.bank.local"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    life = cert.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=29) < life <= timedelta(days=30, minutes=1)
    assert "SHA-256 fingerprint" in outcome.stdout and "not for production" in outcome.stdout
    assert {p.name for p in out.iterdir()} == {"cert.pem", "key.pem"}  # no temp files left


def test_tls_defaults_to_this_machine(run_cli: Run, tmp_path: Path) -> None:
    from cryptography import x509

    assert run_cli("tls", "self-signed", "--out", str(tmp_path)).exit_code == 0
    cert, _ = _load(tmp_path)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_tls_keeps_an_existing_pair_unless_forced(run_cli: Run, tmp_path: Path) -> None:
    assert run_cli("tls", "self-signed", "--out", str(tmp_path)).exit_code == 0
    before = (tmp_path / "key.pem").read_bytes()
    refused = run_cli("tls", "self-signed", "--out", str(tmp_path))
    assert refused.exit_code == 11 and "--force" in refused.stderr
    assert (tmp_path / "key.pem").read_bytes() == before
    assert run_cli("tls", "self-signed", "--out", str(tmp_path), "--force").exit_code == 0
    assert (tmp_path / "key.pem").read_bytes() != before


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [(("--host", "bad host!"), 11, "--host 'bad host!'"),
     (("--host", "-x.example"), 11, "neither an IP address nor a DNS name"),
     (("--days", "0"), 2, "Invalid value for '--days'")],
)
def test_tls_mistakes_name_the_option(run_cli: Run, tmp_path: Path, args: tuple[str, ...],
                                      code: int, says: str) -> None:
    outcome = run_cli("tls", "self-signed", "--out", str(tmp_path / "x"), *args)
    assert outcome.exit_code == code and says in outcome.stderr
    assert not (tmp_path / "x" / "key.pem").exists()
