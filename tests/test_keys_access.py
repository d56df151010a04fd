"""API keys and roles (appliance.access): the store side and the hot-path cache, on real
SQLite files. Spies wrap the real slow hash only to count how often it runs."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from appliance import audit
from appliance.access import (
    PERMISSIONS,
    ROLES,
    AccessError,
    KeyCache,
    create_key,
    get_key,
    list_keys,
    parse_key,
    revoke_key,
    role_allows,
    verify_key,
)
from appliance.access import keys as keys_module
from appliance.access.hashing import SCRYPT_N, check_secret, hash_secret, new_salt
from appliance.errors import HomeError, NotFound
from appliance.home import DataHome
from appliance.store.db import connect
from appliance.store.migrations import MIGRATIONS

KEY_SHAPE = re.compile(r"apk_[0-9a-f]{12}_[0-9A-Za-z]{43}")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts slow-hash checks; the real function still runs."""
    calls: list[str] = []
    real = keys_module.check_secret

    def counting(key: str, salt: str, stored: str) -> bool:
        calls.append(key)
        return real(key, salt, stored)

    monkeypatch.setattr(keys_module, "check_secret", counting)
    return calls


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(home: DataHome, clock: FakeClock) -> Iterator[KeyCache]:
    keys = KeyCache(home.db_path, recheck_s=2.0, clock=clock)
    yield keys
    keys.close()


# --- roles -----------------------------------------------------------------------------


def test_the_permission_matrix() -> None:
    table = {role: {p for p in PERMISSIONS if role_allows(role, p)} for role in ROLES}
    assert table == {
        "scorer": {"score", "outcomes"},
        "analyst": {"read"},
        "admin": {"score", "outcomes", "read", "admin"},
    }
    assert not role_allows("root", "score") and not role_allows("admin", "delete")


def test_the_roles_agree_with_the_store_and_the_cli() -> None:
    from appliance.cli.keys import ROLE_CHOICES

    sql = next(m.sql for m in MIGRATIONS if m.name == "api_keys")
    checked = re.search(r"role\s+TEXT NOT NULL CHECK \(role IN \(([^)]*)\)\)", sql)
    assert checked is not None
    assert tuple(r.strip(" '") for r in checked.group(1).split(",")) == ROLES == ROLE_CHOICES


# --- creating, verifying, revoking ------------------------------------------------------


def test_a_new_key_verifies_and_its_secret_is_stored_nowhere(db: Database,
                                                             home: DataHome) -> None:
    key, plaintext = create_key(db, "scorer", "branch 12 app", actor="alice")
    assert KEY_SHAPE.fullmatch(plaintext) and plaintext.startswith(f"apk_{key.id}_")
    assert (key.role, key.name, key.created_by, key.revoked) == ("scorer", "branch 12 app",
                                                                  "alice", False)
    assert verify_key(db, plaintext) == key
    secret = plaintext.rsplit("_", 1)[1]
    stored = b"".join(p.read_bytes() for p in home.root.glob("appliance.db*"))
    assert secret.encode() not in stored and plaintext.encode() not in stored
    salt, digest = db.execute("SELECT salt, hash FROM api_keys").fetchone()
    assert digest.startswith(f"scrypt${SCRYPT_N}$8$1$") and len(bytes.fromhex(salt)) == 16


def test_creation_and_revocation_are_audited_without_the_secret(db: Database) -> None:
    key, plaintext = create_key(db, "admin", "ops", actor="alice")
    revoke_key(db, key.id, actor="bob")
    rows = db.execute(
        "SELECT actor, action, subject, details FROM audit_log WHERE action LIKE 'key.%'"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("alice", "key.create", f"key/{key.id}"),
                                                  ("bob", "key.revoke", f"key/{key.id}")]
    assert all(plaintext.rsplit("_", 1)[1] not in r[3] for r in rows)
    assert audit.verify(db).ok


def test_salts_differ_and_keys_do_not_cross(db: Database) -> None:
    a, plain_a = create_key(db, "scorer", "a", actor="t")
    b, plain_b = create_key(db, "scorer", "b", actor="t")
    salts = {row[0] for row in db.execute("SELECT salt FROM api_keys")}
    assert len(salts) == 2 and a.id != b.id
    swapped = f"apk_{a.id}_{plain_b.rsplit('_', 1)[1]}"
    assert verify_key(db, swapped) is None
    assert verify_key(db, plain_a.replace(a.id, b.id)) is None


def test_revoked_keys_stop_verifying_and_stay_revoked(db: Database) -> None:
    key, plaintext = create_key(db, "analyst", "reports", actor="t")
    revoked = revoke_key(db, key.id, actor="bob")
    assert revoked.revoked and revoked.revoked_by == "bob"
    assert get_key(db, key.id) == revoked
    assert verify_key(db, plaintext) is None
    with pytest.raises(AccessError, match=r"already revoked .* by bob"):
        revoke_key(db, key.id, actor="carol")


def test_revoking_by_pasting_the_whole_key_revokes_its_id(db: Database) -> None:
    key, plaintext = create_key(db, "scorer", "leaked", actor="t")
    assert revoke_key(db, plaintext, actor="t").id == key.id


@pytest.mark.parametrize("key_id", ["0123456789ab", "nope", ""])
def test_revoking_an_unknown_key_says_so(db: Database, key_id: str) -> None:
    with pytest.raises(NotFound, match="keys list"):
        revoke_key(db, key_id, actor="t")


@pytest.mark.parametrize(
    ("role", "name", "problem"),
    [("root", "x", "role 'root' is unknown"), ("scorer", "  ", "key name"),
     ("scorer", "x" * 101, "key name"), ("admin", "tab\there", "key name")],
)
def test_bad_requests_name_the_problem(db: Database, role: str, name: str,
                                       problem: str) -> None:
    with pytest.raises(AccessError, match=re.escape(problem)):
        create_key(db, role, name, actor="t")
    assert list_keys(db) == []


def test_the_store_refuses_to_change_unrevoke_or_delete_a_key(db: Database) -> None:
    key, _ = create_key(db, "scorer", "x", actor="t")
    with pytest.raises(sqlite3.IntegrityError, match="cannot be changed"):
        db.execute("UPDATE api_keys SET role = 'admin' WHERE id = ?", [key.id])
    revoke_key(db, key.id, actor="t")
    with pytest.raises(sqlite3.IntegrityError, match="stays revoked"):
        db.execute("UPDATE api_keys SET revoked_at = NULL, revoked_by = NULL")
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        db.execute("DELETE FROM api_keys")


def test_list_keys_is_oldest_first(db: Database) -> None:
    made = [create_key(db, role, f"k{i}", actor="t")[0] for i, role in enumerate(ROLES)]
    assert [k.id for k in list_keys(db)] == [k.id for k in made]


@given(st.text(max_size=80) | st.from_regex(r"apk_[0-9a-f]{0,14}_[0-9A-Za-z]{0,45}"))
def test_parse_key_never_raises_and_accepts_only_the_exact_shape(text: str) -> None:
    assert (parse_key(text) is not None) == bool(KEY_SHAPE.fullmatch(text))


@given(st.text(max_size=120))
def test_a_malformed_stored_hash_is_a_mismatch_not_an_error(stored: str) -> None:
    if not stored.startswith("scrypt$"):
        assert check_secret("apk_x", "00" * 16, stored) is False


@pytest.mark.parametrize("stored", ["scrypt$3$8$1$00", "scrypt$1073741824$8$1$00",
                                    "scrypt$16384$8$1$zz", "bcrypt$16384$8$1$00", "scrypt$$$$"])
def test_stored_hashes_with_bad_parameters_are_mismatches(stored: str) -> None:
    assert check_secret("apk_x", "00" * 16, stored) is False


def test_a_bad_salt_is_a_mismatch() -> None:
    assert check_secret("apk_x", "not hex", hash_secret("apk_x", new_salt())) is False


@pytest.fixture(scope="module")
def one_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, str]]:
    database = connect(tmp_path_factory.mktemp("keys") / "appliance.db")
    _, plaintext = create_key(database, "scorer", "probe", actor="t")
    yield database, plaintext
    database.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, 59), replacement=st.sampled_from("0aZ_ -é"))
def test_a_key_changed_anywhere_does_not_verify(one_key: tuple[Database, str], position: int,
                                                replacement: str) -> None:
    db, plaintext = one_key
    changed = plaintext[:position] + replacement + plaintext[position + 1:]
    assert (verify_key(db, changed) is None) == (changed != plaintext)


# --- the hot-path cache -----------------------------------------------------------------


def test_the_slow_hash_runs_once_per_key(db: Database, cache: KeyCache,
                                         hash_calls: list[str]) -> None:
    key, plaintext = create_key(db, "scorer", "x", actor="t")
    assert cache.cached(plaintext) is None
    assert [cache.authenticate(plaintext) for _ in range(50)] == [key] * 50
    assert cache.cached(plaintext) == key
    assert len(hash_calls) == 1


def test_a_revoked_key_stops_within_the_recheck_bound(db: Database, cache: KeyCache,
                                                      clock: FakeClock) -> None:
    key, plaintext = create_key(db, "scorer", "x", actor="t")
    assert cache.authenticate(plaintext) == key
    revoke_key(db, key.id, actor="t")
    clock.now += 1.9  # remembered: still trusted, at most recheck_s
    assert cache.authenticate(plaintext) == key
    clock.now += 0.1
    assert cache.cached(plaintext) is None and cache.authenticate(plaintext) is None
    clock.now += 60
    assert cache.authenticate(plaintext) is None


def test_a_revoked_key_stops_within_the_bound_in_real_time(home: DataHome,
                                                           db: Database) -> None:
    key, plaintext = create_key(db, "scorer", "x", actor="t")
    cache = KeyCache(home.db_path, recheck_s=0.2)
    try:
        assert cache.authenticate(plaintext) == key
        checked_by = time.monotonic()
        revoke_key(db, key.id, actor="t")
        time.sleep(max(0.0, checked_by + 0.2 - time.monotonic()))
        assert cache.authenticate(plaintext) is None  # the first check after the bound
    finally:
        cache.close()


def test_unknown_and_malformed_keys_are_refused_without_hashing(
    db: Database, cache: KeyCache, hash_calls: list[str]
) -> None:
    create_key(db, "scorer", "x", actor="t")
    unknown = "apk_0123456789ab_" + "A" * 43
    for presented in (unknown, "", "Bearer x", "apk_", "apk_0123456789ab_short", "ü" * 60):
        assert cache.authenticate(presented) is None
    assert hash_calls == []


def test_a_wrong_secret_is_remembered_for_the_recheck_interval_only(
    db: Database, cache: KeyCache, clock: FakeClock, hash_calls: list[str]
) -> None:
    key, plaintext = create_key(db, "scorer", "x", actor="t")
    wrong = f"apk_{key.id}_" + "B" * 43
    assert cache.authenticate(wrong) is None and cache.authenticate(wrong) is None
    assert len(hash_calls) == 1
    clock.now += 2.0
    assert cache.authenticate(wrong) is None and len(hash_calls) == 2
    assert cache.authenticate(plaintext) == key  # a wrong guess never locks the key out


def test_last_used_is_stamped_on_first_use_and_at_each_recheck(
    db: Database, cache: KeyCache, clock: FakeClock
) -> None:
    key, plaintext = create_key(db, "scorer", "x", actor="t")
    assert get_key(db, key.id).last_used_at is None
    cache.authenticate(plaintext)
    first = get_key(db, key.id).last_used_at
    assert first is not None
    clock.now += 0.5
    cache.authenticate(plaintext)
    assert get_key(db, key.id).last_used_at == first  # remembered: no write
    clock.now += 2.0
    cache.authenticate(plaintext)
    assert (get_key(db, key.id).last_used_at or "") > first


def test_a_busy_store_does_not_hold_up_authentication(home: DataHome, db: Database,
                                                      cache: KeyCache) -> None:
    key, plaintext = create_key(db, "scorer", "x", actor="t")
    writer = sqlite3.connect(str(home.db_path), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process mid-write
    try:
        started = time.monotonic()
        assert cache.authenticate(plaintext) == key
        assert time.monotonic() - started < 2.0  # the store's busy timeout is 10 s
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert get_key(db, key.id).last_used_at is None  # skipped, not waited for


def test_concurrent_first_uses_hash_once(db: Database, cache: KeyCache,
                                         hash_calls: list[str]) -> None:
    key, plaintext = create_key(db, "admin", "x", actor="t")
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(cache.authenticate(plaintext)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [key] * 8 and len(hash_calls) == 1


def test_forget_sends_the_next_check_to_the_store(db: Database, cache: KeyCache,
                                                  hash_calls: list[str]) -> None:
    _, plaintext = create_key(db, "scorer", "x", actor="t")
    cache.authenticate(plaintext)
    cache.forget()
    assert cache.cached(plaintext) is None
    cache.authenticate(plaintext)
    assert len(hash_calls) == 2


def test_a_cache_needs_an_existing_store_and_a_sane_interval(tmp_path: Path,
                                                             home: DataHome) -> None:
    with pytest.raises(HomeError, match="appliance init"):
        KeyCache(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(ValueError, match="recheck_s"):
        KeyCache(home.db_path, recheck_s=-1)


def test_a_cache_migrates_an_older_store(tmp_path: Path) -> None:
    from appliance.store.db import migrate, schema_version

    path = tmp_path / "old.db"
    old = connect(path, migrate_schema=False)
    migrate(old, [m for m in MIGRATIONS if m.number < 4])
    old.close()
    cache = KeyCache(path)
    cache.close()
    assert schema_version(connect(path, migrate_schema=False)) >= 4
