"""The metrics as a Prometheus server sees them: the rendered text, parsed back."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.serving.metrics import LATENCY_BUCKETS, MAX_ROUTES, ServiceMetrics
from appliance.serving.predlog import PredictionLog, PredictionRecord
from appliance.store.db import connect

SCORE = "/v1/models/{name}/score"


def scrape(metrics: ServiceMetrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Family name -> its samples (name, labels, value), from the rendered text."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    families = text_string_to_metric_families(body.decode("utf-8"))
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in families}


def value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    found = [
        v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_requests_are_counted_by_route_method_and_status() -> None:
    metrics = ServiceMetrics(process=False)
    for _ in range(3):
        metrics.observe_request(SCORE, "POST", 200, 0.0003)
    metrics.observe_request(SCORE, "post", 422, 0.002)
    metrics.observe_request("/health", "GET", 200, 0.00005)
    requests = scrape(metrics)["appliance_http_requests"]
    total = "appliance_http_requests_total"
    assert value(requests, total, route=SCORE, method="POST", status="200") == 3
    assert value(requests, total, route=SCORE, method="POST", status="422") == 1
    assert value(requests, total, route="/health", method="GET", status="200") == 1
    assert len([s for s in requests if s[0] == total]) == 3


def test_latency_lands_in_fine_buckets() -> None:
    metrics = ServiceMetrics(process=False)
    for seconds in (0.0003, 0.0003, 0.0009, 0.004, 0.7, 3.0):
        metrics.observe_request(SCORE, "POST", 200, seconds)
    samples = scrape(metrics)["appliance_http_request_duration_seconds"]
    buckets = {
        float(ls["le"]): v
        for n, ls, v in samples
        if n.endswith("_bucket") and ls["route"] == SCORE
    }  # fmt: skip
    assert sorted(buckets) == [*LATENCY_BUCKETS, math.inf]
    assert buckets[0.00025] == 0 and buckets[0.0005] == 2 and buckets[0.001] == 3
    assert buckets[0.003] == 3 and buckets[0.005] == 4 and buckets[0.5] == 4
    assert buckets[1.0] == 5 and buckets[math.inf] == 6
    count = "appliance_http_request_duration_seconds_count"
    assert value(samples, count, route=SCORE) == 6
    total = value(samples, "appliance_http_request_duration_seconds_sum", route=SCORE)
    assert total == pytest.approx(0.0003 * 2 + 0.0009 + 0.004 + 0.7 + 3.0)


def test_a_hot_swap_replaces_the_model_series() -> None:
    metrics = ServiceMetrics(process=False)
    metrics.set_model("credit", 3, "production", "compiled")
    metrics.set_model("credit", 4, "shadow", "xgboost")
    metrics.set_model("credit", 5, "production", "compiled")  # promote
    info = scrape(metrics)["appliance_model_info"]
    assert sorted((ls["alias"], ls["version"], ls["scorer"]) for _, ls, _ in info) == [
        ("production", "5", "compiled"),
        ("shadow", "4", "xgboost"),
    ]
    assert all(v == 1 for _, _, v in info)
    metrics.clear_model("credit", "shadow")
    info = scrape(metrics)["appliance_model_info"]
    assert [(ls["alias"], ls["version"]) for _, ls, _ in info] == [("production", "5")]


def test_queue_depth_is_read_at_each_scrape() -> None:
    metrics = ServiceMetrics(process=False)
    depth = [0]
    metrics.track_queue(lambda: depth[0])
    name = "appliance_prediction_log_queue_depth"
    assert value(scrape(metrics)[name], name) == 0
    depth[0] = 42
    assert value(scrape(metrics)[name], name) == 42


def test_a_real_prediction_log_shows_its_counts(tmp_path: Path) -> None:
    path = tmp_path / "appliance.db"
    connect(path).close()
    log = PredictionLog(path, flush_interval_s=30.0).start()
    metrics = ServiceMetrics(process=False)
    metrics.track_prediction_log(log)
    try:
        for i in range(3):
            log.submit(PredictionRecord(
                request_id=f"r{i}", model="m", version=1, role="production", served=True,
                input={}, features={}, probability=0.5, decision="approve", latency_ms=1.0,
            ))  # fmt: skip
        families = scrape(metrics)
        depth = "appliance_prediction_log_queue_depth"
        assert value(families[depth], depth) == 3
        assert log.flush()
        families = scrape(metrics)
        assert value(families[depth], depth) == 0
        written = "appliance_prediction_log_written"
        assert value(families[written], f"{written}_total") == 3
        dropped = "appliance_prediction_log_dropped"
        assert value(families[dropped], f"{dropped}_total") == 0
        healthy = "appliance_prediction_log_healthy"
        assert value(families[healthy], healthy) == 1
    finally:
        log.close()


def test_route_labels_are_capped() -> None:
    metrics = ServiceMetrics(process=False)
    for i in range(MAX_ROUTES + 5):
        metrics.observe_request(f"/raw/path/{i}", "GET", 404, 0.001)
    metrics.observe_request("/raw/path/0", "GET", 404, 0.001)  # known before the cap: kept
    samples = scrape(metrics)["appliance_http_requests"]
    routes = {ls["route"]: v for n, ls, v in samples if n.endswith("_total")}
    assert len(routes) == MAX_ROUTES + 1
    assert routes["other"] == 5 and routes["/raw/path/0"] == 2


def test_counts_from_many_threads_add_up_and_registries_are_separate() -> None:
    metrics, other = ServiceMetrics(process=False), ServiceMetrics(process=False)

    def work() -> None:
        for _ in range(1000):
            metrics.observe_request(SCORE, "POST", 200, 0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    requests = scrape(metrics)["appliance_http_requests"]
    total = "appliance_http_requests_total"
    assert value(requests, total, route=SCORE, status="200") == 4000
    assert scrape(other)["appliance_http_requests"] == []


def test_process_metrics_are_included_by_default() -> None:
    families = scrape(ServiceMetrics())
    assert "process_resident_memory_bytes" in families
    assert value(families["process_resident_memory_bytes"], "process_resident_memory_bytes") > 0
