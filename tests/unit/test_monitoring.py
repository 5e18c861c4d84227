"""The Prometheus and Grafana artifacts in deploy/: promtool accepts the config and the rules, the rules'
own unit tests pass (the stall and dead-letter-spike alerts fire on unhealthy series and stay silent on
healthy ones), and the rules and the Grafana board query only the worker metrics of the contract."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
GRAFANA = REPO / "deploy" / "grafana"
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())

# The worker metrics of the contract, by type; ``up`` is Prometheus's own.
COUNTERS = {
    "streamer_records_consumed_total", "streamer_records_produced_total", "streamer_rejected_total",
    "streamer_anomalies_total", "streamer_late_total", "streamer_rebalances_total",
    "streamer_send_retries_total", "streamer_partition_progress_total", "streamer_event_loop_stalls_total",
}  # fmt: skip
HISTOGRAMS = {"streamer_end_to_end_seconds", "streamer_batch_seconds", "streamer_event_loop_lag_seconds"}
GAUGES = {
    "streamer_consumer_lag_records", "streamer_consumer_lag_seconds", "streamer_assigned_partitions",
    "streamer_open_windows", "streamer_state_keys", "streamer_recovery_remaining_records",
    "streamer_partition_stalled", "streamer_bars_pending",
}  # fmt: skip
SERIES = COUNTERS | GAUGES | {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
REQUIRED_ALERTS = {
    "StreamerConsumerLagGrowing", "StreamerConsumerLagHigh", "StreamerDeadLetterSpike",
    "StreamerPartitionStalled", "StreamerWorkerDown", "StreamerAnomalyBurst",
}  # fmt: skip


def promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    assert found, "promtool is not installed; run scripts/setup (apt-get install prometheus)"
    return subprocess.run([found, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def metric_names(expr: str) -> set[str]:
    """Every ``streamer_*`` name and ``up`` used as a metric in a PromQL expression."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    names = set(re.findall(r"\bstreamer_[a-z_]+\b", without_strings))
    if re.search(r"\bup\s*[{\[)]|\bup\s*==", without_strings):
        names.add("up")
    return names


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_targets() -> list[tuple[str, str]]:
    board = orjson.loads((GRAFANA / "dashboards" / "streamer.json").read_bytes())
    return [
        (f"{panel['title']} {target['refId']}", target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def test_promtool_accepts_the_scrape_config() -> None:
    result = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", "alerts_test.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_tests_prove_the_stall_and_spike_alerts_both_ways() -> None:
    """Each of the two alerts the issue names is tested silent on healthy series and firing on bad ones."""
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for alert in ("StreamerPartitionStalled", "StreamerDeadLetterSpike"):
        outcomes = [bool(case["exp_alerts"]) for case in cases if case["alertname"] == alert]
        assert True in outcomes and False in outcomes, alert


def test_alerts_cover_every_required_condition_on_contract_metrics() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= REQUIRED_ALERTS
    for rule in rules:
        used = metric_names(rule["expr"])
        assert used and used <= SERIES | {"up"}, (rule["alert"], used - SERIES)
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]


def test_prometheus_scrapes_the_workers_metrics_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "streamer-worker"]
    assert job["metrics_path"] == "/metrics"
    assert [sd["port"] for sd in job["dns_sd_configs"]] == [6066]
    assert config["rule_files"] == ["alerts.yml"]


def test_grafana_board_queries_are_valid_promql_on_contract_metrics(tmp_path: Path) -> None:
    targets = dashboard_targets()
    assert len(targets) >= 20
    used = set().union(*(metric_names(expr) for _, expr in targets))
    assert used <= SERIES | {"up"}, used - SERIES
    assert {name.removesuffix("_bucket") for name in used} >= COUNTERS | GAUGES | HISTOGRAMS
    # promtool parses every query: each one becomes a recording rule, with the board's variable filled in.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"streamer_dashboard:query_{i}", "expr": expr.replace("$instance", ".*")}
                    for i, (_, expr) in enumerate(targets)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_matches_the_board_and_compose() -> None:
    board = orjson.loads((GRAFANA / "dashboards" / "streamer.json").read_bytes())
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (datasource,) = source["datasources"]
    variable = next(v for v in board["templating"]["list"] if v["name"] == "datasource")
    assert variable["current"]["value"] == datasource["uid"] and datasource["type"] == "prometheus"
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "streamer.yml").read_text())
    board_dir = provider["providers"][0]["options"]["path"]
    grafana = COMPOSE["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == board_dir
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == f"{board_dir}/streamer.json"
    prometheus = COMPOSE["services"]["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert datasource["url"] == "http://prometheus:9090"
    for volume in grafana["volumes"] + prometheus["volumes"]:
        source_path = volume.split(":")[0]
        if source_path.startswith("./"):
            assert (REPO / source_path).is_dir(), source_path
        else:
            assert source_path in COMPOSE["volumes"], source_path


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum(rate(streamer_rejected_total{reason="not_json"}[5m]))', {"streamer_rejected_total"}),
        ('up{job="streamer-worker"} == 0', {"up"}),
        ("max by (topic) (streamer_consumer_lag_seconds)", {"streamer_consumer_lag_seconds"}),
    ],
)
def test_metric_names_are_found_in_queries(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
