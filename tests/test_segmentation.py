"""Segmentation end to end on a real lake: the bancassurance demo files, really ingested,
the use case's own feature pipeline, scikit-learn, the SQLite store, the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance import audit
from appliance.errors import ArtifactTampered, SchemaError
from appliance.features.sources import LakeSources
from appliance.home import DataHome
from appliance.segmentation import (
    SegmentationOutcome,
    assign,
    list_segmentations,
    load_artifact,
    parse_segmentation,
    production_version,
    promote_segmentation,
    resolve_segmentation,
    segment_assignments,
    segment_drift,
    train_segmentation,
)
from appliance.segmentation.fit import fit_segments
from appliance.segmentation.inputs import build_inputs
from appliance.store.db import connect
from appliance.usecase.locate import locate_spec
from appliance.usecase.parse import parse_spec
from appliance.usecase.spec import UseCaseSpec

CUSTOMERS = 1500


def build_bank_lake(root: Path) -> DataHome:
    """A home with the four bancassurance demo files ingested (real ingest)."""
    from appliance.demo.bancassurance import write_bancassurance
    from appliance.ingest.run import ingest_file
    from appliance.ingest.sources import all_sources, match_source

    home = DataHome(root)
    home.layout()
    db = connect(home.db_path)
    schemas = all_sources(home)
    for path, _ in write_bancassurance(home.dir("inbox"), CUSTOMERS, 7):
        schema = match_source(schemas, path.name)
        assert schema is not None
        ingest_file(home, db, path, schema, actor="test")
    db.close()
    return home


@dataclass(frozen=True)
class Trained:
    home: DataHome
    outcome: SegmentationOutcome
    lines: list[str]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    return build_bank_lake(tmp_path_factory.mktemp("segments") / "lake")


@pytest.fixture(scope="module")
def trained(lake: DataHome, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    home = copy(lake, tmp_path_factory.mktemp("trained") / "home")
    db = connect(home.db_path)
    lines: list[str] = []
    outcome = train_segmentation(home, db, locate_spec(home, "insurance_propensity"),
                                 actor="analyst", progress=lines.append)  # fmt: skip
    db.close()
    return Trained(home, outcome, lines)


@pytest.fixture
def open_db() -> Iterator[Callable[[DataHome], Any]]:
    """Connections to a home's store, closed when the test ends."""
    handles: list[Any] = []

    def open_(home: DataHome) -> Any:
        handles.append(connect(home.db_path))
        return handles[-1]

    yield open_
    for db in handles:
        db.close()


def copy(home: DataHome, root: Path) -> DataHome:
    shutil.copytree(home.root, root)
    return DataHome(root)


def spec_with(home: DataHome, **segmentation: Any) -> UseCaseSpec:
    base = locate_spec(home, "insurance_propensity")
    block = {**base.raw["segmentation"], **segmentation}
    return parse_spec({**base.raw, "segmentation": block}, origin="usecases/bad.toml")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    from appliance.cli.main import main

    def run(home: DataHome, *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(["--home", str(home.root), *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


# --- training and the registry ----------------------------------------------------------


def test_training_registers_a_version_its_files_and_every_entity_segment(
    trained: Trained, open_db: Callable[[DataHome], Any]
) -> None:
    sv, home = trained.outcome.version, trained.home
    assert (sv.usecase, sv.version, sv.status) == ("insurance_propensity", 1, "registered")
    assert 3 <= sv.k <= 6 and sv.silhouette is not None and -1 <= sv.silhouette <= 1
    folder = home.root / "models" / "insurance_propensity-segments" / "1"
    assert sv.artifact_path == "models/insurance_propensity-segments/1/segmentation.json"
    for name in ("segmentation.json", "report.html", "profile.json", "segment_sizes.png",
                 "segment_profile.png", "silhouette_by_k.png"):  # fmt: skip
        assert (folder / name).is_file(), name
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".staging")]
    db = open_db(home)
    artifact = load_artifact(home, sv)
    assert artifact.k == sv.k and sum(artifact.sizes) == sv.rows
    assert set(artifact.silhouette) == {3, 4, 5, 6}
    assert sv.silhouette == max(v for v in artifact.silhouette.values() if v is not None)
    entities, segments = segment_assignments(db, "insurance_propensity", 1)
    spec = locate_spec(home, "insurance_propensity")
    inputs = build_inputs(spec, parse_segmentation(spec), LakeSources(home, db), lambda _l: None)
    assert len(entities) == len(set(inputs.entities)) == trained.outcome.entities == sv.rows
    expected = dict(zip(inputs.entities, assign(artifact, _rows(inputs)).tolist(), strict=True))
    assert dict(zip(entities, segments.tolist(), strict=True)) == expected
    assert any("k = 4: silhouette" in line for line in trained.lines)


def _rows(inputs: Any) -> dict[str, np.ndarray]:
    return {name: inputs.raw[:, j] for j, name in enumerate(inputs.names)}


def test_the_json_artifact_assigns_the_training_rows_as_kmeans_predict_does(
    trained: Trained, open_db: Callable[[DataHome], Any]
) -> None:
    home, sv = trained.home, trained.outcome.version
    db = open_db(home)
    spec = locate_spec(home, "insurance_propensity")
    seg = parse_segmentation(spec)
    inputs = build_inputs(spec, seg, LakeSources(home, db), lambda _l: None)
    artifact = load_artifact(home, sv)
    x = artifact.scaled(_rows(inputs))
    refit = fit_segments(x, [artifact.k], seed=seg.seed, sample=seg.sample)  # scikit-learn again
    assert np.allclose(refit.centroids, artifact.centroids, rtol=0, atol=1e-12)
    predicted = refit.relabel(refit.estimator.predict(x))
    assert np.array_equal(assign(artifact, _rows(inputs)), predicted)


def test_the_same_data_and_seed_give_the_same_segments(
    trained: Trained, tmp_path: Path, open_db: Callable[[DataHome], Any]
) -> None:
    home = copy(trained.home, tmp_path / "home")
    db = open_db(home)
    again = train_segmentation(home, db, locate_spec(home, "insurance_propensity"), actor="t")
    assert again.version.version == 2
    first, second = load_artifact(home, trained.outcome.version), again.artifact
    assert np.array_equal(first.centroids, second.centroids)
    assert first.sizes == second.sizes and first.silhouette == second.silhouette
    one, two = (segment_assignments(db, "insurance_propensity", v) for v in (1, 2))
    assert one[0] == two[0] and np.array_equal(one[1], two[1])
    assert [v.version for v in list_segmentations(db, "insurance_propensity")] == [1, 2]
    assert resolve_segmentation(db, "insurance_propensity", "latest").version == 2


def test_promotion_moves_the_production_pointer_and_everything_is_audited(
    trained: Trained, tmp_path: Path, open_db: Callable[[DataHome], Any]
) -> None:
    home = copy(trained.home, tmp_path / "home")
    db = open_db(home)
    assert production_version(db, "insurance_propensity") is None
    assert promote_segmentation(db, "insurance_propensity", 1, actor="risk", reason="ok") is None
    assert resolve_segmentation(db, "insurance_propensity", "production").version == 1
    published = db.execute("SELECT count(*), count(DISTINCT entity_id) FROM "
                           "production_customer_segments").fetchone()  # fmt: skip
    assert published[0] == published[1] == trained.outcome.entities
    actions = [(e[0], e[1]) for e in db.execute("SELECT action, subject FROM audit_log")]
    assert ("segmentation.register", "insurance_propensity-segments/1") in actions
    assert ("segmentation.promote", "insurance_propensity-segments/1") in actions
    assert audit.verify(db).ok
    with pytest.raises(Exception, match="cannot be changed"):
        db.execute("UPDATE segmentations SET k = 9")


def test_a_tampered_artifact_is_refused_naming_the_file(
    trained: Trained, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    home = copy(trained.home, tmp_path / "home")
    path = home.inside(trained.outcome.version.artifact_path)
    path.write_bytes(path.read_bytes().replace(b'"seed": 7', b'"seed": 8'))
    with pytest.raises(ArtifactTampered, match=r"segmentation\.json has SHA-256"):
        load_artifact(home, trained.outcome.version)
    code, _, err = cli(home, "segments", "show", "insurance_propensity", "1")
    assert code == ArtifactTampered.exit_code
    assert "segmentation.json" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_segment_shares_of_the_training_population_do_not_drift(
    trained: Trained, open_db: Callable[[DataHome], Any]
) -> None:
    db = open_db(trained.home)
    _, segments = segment_assignments(db, "insurance_propensity", 1)
    drift = segment_drift(trained.outcome.artifact.sizes, segments)
    assert drift.psi == pytest.approx(0.0, abs=1e-9) and drift.level == "stable"
    smallest = len(trained.outcome.artifact.sizes) - 1
    moved = segment_drift(trained.outcome.artifact.sizes, np.full(200, smallest))
    assert moved.level == "act"


def test_the_report_is_one_self_contained_page(trained: Trained) -> None:
    html = trained.outcome.report.read_text(encoding="utf-8")
    assert "Segments · insurance_propensity v1" in html
    assert html.count('src="data:image/png;base64,') == 3  # sizes, profile, silhouette
    assert "http://" not in html and "https://" not in html
    assert "has no production version" in html  # no model yet: said, not hidden
    assert "tenure_months" in html and "z-score" in html


# --- refusals before fitting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"features": ["tenure_months", "tenure"]},
         r"'tenure' is not a feature of use case 'insurance_propensity'; its numeric features "
         r"are: tenure_months, contact_events_3m"),
        ({"features": ["tenure_months", "segment"]}, r"'segment' is categorical \(affluent"),
        ({"features": ["tenure_months", "contact_complaints_sum_3m"], "scaling": "robust"},
         r"'contact_complaints_sum_3m' has an interquartile range of 0 .* use scaling = "
         r'"standard"'),
        ({"features": ["products_events_120m"], "segments": 20},
         r"20 segments were asked for, but the [\d,]+ rows hold only \d+ distinct"),
    ],
)  # fmt: skip
def test_bad_segmentations_are_refused_before_anything_is_fitted_or_registered(
    lake: DataHome,
    tmp_path: Path,
    change: dict[str, Any],
    words: str,
    open_db: Callable[[DataHome], Any],
) -> None:
    home = copy(lake, tmp_path / "home")
    db = open_db(home)
    lines: list[str] = []
    with pytest.raises(SchemaError, match=r"^usecases/bad\.toml: segmentation\.") as caught:
        train_segmentation(home, db, spec_with(home, **change), actor="t", progress=lines.append)
    assert caught.match(words)
    assert not any(line.startswith("fitting k-means") for line in lines)
    assert list_segmentations(db) == []
    assert not (home.root / "models" / "insurance_propensity-segments").exists()


# --- the command ------------------------------------------------------------------------


def test_the_segments_command_trains_lists_shows_and_promotes(
    lake: DataHome, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    home = copy(lake, tmp_path / "home")
    code, out, err = cli(home, "segments", "train", "insurance_propensity")
    assert code == 0, err
    assert "insurance_propensity segmentation v1 registered" in out
    assert "segment 0:" in out and "entities' segments recorded" in out
    assert "fitting k-means" in err  # progress, one line per step
    code, out, _ = cli(home, "segments", "list")
    assert code == 0 and "insurance_propensity" in out and "v1" in out
    assert "production" not in out
    code, out, err = cli(home, "segments", "promote", "insurance_propensity", "1",
                         "--reason", "reviewed")  # fmt: skip
    assert code == 0 and "v1 is now production" in out, err
    code, out, _ = cli(home, "segments", "show", "insurance_propensity")
    assert code == 0 and "v1  registered  (production)" in out
    assert "silhouette  k=3:" in out and "rows (" in out
    code, _, err = cli(home, "segments", "show", "insurance_propensity", "7")
    assert code == 3 and "has no segmentation version 7" in err


def test_the_command_names_a_spec_without_segmentation_in_one_line(
    lake: DataHome, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    home = copy(lake, tmp_path / "home")
    code, _, err = cli(home, "segments", "train", "credit_default")
    assert code == SchemaError.exit_code
    assert "credit_default.toml: use case 'credit_default' declares no [segmentation]" in err
    assert len(err.strip().splitlines()) == 1
