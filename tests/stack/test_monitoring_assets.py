"""The monitoring profile: Prometheus' scrape config and alert rules, the Grafana dashboards and
their provisioning, and the `monitoring` services of docker-compose.yml.

No Prometheus, Grafana or Docker engine runs here (nor promtool), so these tests check what
drifts silently: a dashboard or rule querying a metric docs/metrics.md does not define, a
scrape port that moved, a mount of a file that is not in the repository, or a password.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.stack.monitoring_assets import (
    ALERT_RULES,
    COMPOSE,
    DASHBOARD_PROVIDERS,
    DASHBOARDS,
    DATASOURCES,
    GRAFANA,
    PROMETHEUS_CONFIG,
    ROOT,
    SYNTHETIC_METRICS,
    TARGET_LABELS,
    alert_rules,
    catalog,
    catalog_metrics,
    dashboard_panels,
    documented_ports,
    load_dashboard,
    load_yaml,
    metric_base,
    promql_grouping_labels,
    promql_identifiers,
    promql_selector_labels,
    queried_expressions,
    queried_metrics,
    queried_series,
)
from tests.stack.test_compose import DEPLOYER_ENV, substitute

APP_SERVICES = ("api", "edge", "worker", "scheduler")
MONITORING_SERVICES = ("prometheus", "grafana")
DATASOURCE_UID = "prometheus"
_DURATION = re.compile(r"^(?:\d+(?:ms|[smhdwy]))+$")
# What a deployer puts in .env for the core stack, nothing for monitoring.
CORE_ENV = DEPLOYER_ENV


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = load_yaml(COMPOSE)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def prometheus_config() -> dict[str, Any]:
    loaded = load_yaml(PROMETHEUS_CONFIG)
    assert isinstance(loaded, dict)
    return loaded


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    service = compose["services"][name]
    assert isinstance(service, dict)
    return service


def _bind_mounts(service: dict[str, Any]) -> dict[str, tuple[Path, bool]]:
    """Container path to (repository path, read-only) for every `./...` short-syntax mount."""
    mounts: dict[str, tuple[Path, bool]] = {}
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        if source.startswith("./"):
            mounts[target] = (ROOT / source, mode == ["ro"])
    return mounts


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


# --------------------------------------------------------------------------- the extractor

SAMPLE = """
histogram_quantile(0.95, sum by (le, status) (
  rate(signage_http_request_duration_seconds_bucket{app="edge", route=~"/v1/.*"}[$__rate_interval])
))
/ on (instance) group_left (version) max without (process) (signage_build_info offset 5m)
+ time() - max by (actor) (signage_actor_last_success_timestamp_seconds{actor="sweep_devices"})
+ count_values("value", signage_devices{status='OFFLINE'}) * 1e3
+ sum(increase({__name__="signage_pop_events_total", outcome="rejected"}[1h:5m])) > bool 0
# a comment naming not_a_metric
"""


def test_extractor_finds_metrics_only() -> None:
    assert promql_identifiers(SAMPLE) == {
        "signage_http_request_duration_seconds_bucket",
        "signage_build_info",
        "signage_actor_last_success_timestamp_seconds",
        "signage_devices",
        "signage_pop_events_total",
    }


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up", {"up"}),
        ('up{job="api"} == 0', {"up"}),
        ("sum(rate(a_total[5m])) by (status) / sum(rate(a_total[5m]))", {"a_total"}),
        ("max by (status) (signage_devices)", {"signage_devices"}),
        ('label_replace(x, "dst", "$1", "src", "(.*)")', {"x"}),
        ("a and on(job) b unless ignoring(status) c or d", {"a", "b", "c", "d"}),
        ("rate(x[$__interval]) * $scale", {"x"}),
        ("vector(1) > Inf or NaN", set()),
    ],
)
def test_extractor_cases(expr: str, expected: set[str]) -> None:
    assert promql_identifiers(expr) == expected


def test_extractor_refuses_unknown_functions() -> None:
    with pytest.raises(ValueError, match="histogram_quantil"):
        promql_identifiers("histogram_quantil(0.9, rate(x_bucket[5m]))")


def test_extractor_reads_labels() -> None:
    assert promql_selector_labels(SAMPLE) == {
        ("signage_http_request_duration_seconds_bucket", "app"),
        ("signage_http_request_duration_seconds_bucket", "route"),
        ("signage_actor_last_success_timestamp_seconds", "actor"),
        ("signage_devices", "status"),
    }
    grouping = {"le", "status", "instance", "version", "process", "actor"}
    assert promql_grouping_labels(SAMPLE) == grouping
    assert promql_grouping_labels("job") == set()


def test_catalog_is_read_from_the_docs() -> None:
    types = catalog_metrics()
    assert types["signage_http_requests_total"] == "counter"
    assert types["signage_plan_propagation_seconds"] == "histogram"
    assert types["signage_devices"] == "gauge"
    assert set(types.values()) <= {"counter", "gauge", "histogram"}
    assert all(name.startswith("signage_") for name in types)
    assert len(types) >= 20
    entries = catalog()
    assert entries["signage_http_requests_total"].labels == {"app", "route", "method", "status"}
    assert entries["signage_heartbeat_batch_size"].labels == set()
    assert entries["signage_plan_propagation_seconds"].labels == {"kind"}
    assert metric_base("signage_actor_duration_seconds_bucket", types) == (
        "signage_actor_duration_seconds"
    )
    assert metric_base("signage_http_requests_total", types) == "signage_http_requests_total"


# --------------------------------------------------------------------------- the queries


def test_every_queried_metric_is_in_the_catalog() -> None:
    used = queried_metrics()
    assert used, "no expression found"
    unknown = used - set(catalog_metrics())
    assert not unknown, f"not in docs/metrics.md: {sorted(unknown)}"
    assert SYNTHETIC_METRICS.isdisjoint(used)


def test_histograms_are_queried_through_their_series() -> None:
    types = catalog_metrics()
    bare = {name for name in queried_series() if types.get(name) == "histogram"}
    assert not bare, f"a histogram has no series of that name, use _bucket/_sum/_count: {bare}"
    for name in queried_series():
        if name.endswith("_bucket"):
            assert metric_base(name, types) != name, f"{name} is not a catalog histogram"


def test_every_catalog_metric_is_on_a_dashboard() -> None:
    types = catalog_metrics()
    on_dashboards = {
        metric_base(name, types)
        for path in DASHBOARDS
        for panel in dashboard_panels(load_dashboard(path))
        for target in panel.get("targets", [])
        for name in promql_identifiers(target["expr"])
    }
    missing = set(types) - on_dashboards
    assert not missing, f"documented but on no dashboard: {sorted(missing)}"


def test_queried_labels_are_documented() -> None:
    entries = catalog()
    types = catalog_metrics()
    every_label = {label for entry in entries.values() for label in entry.labels}
    for expr in queried_expressions():
        for series, label in promql_selector_labels(expr):
            if series in SYNTHETIC_METRICS or label in TARGET_LABELS:
                continue
            base = metric_base(series, types)
            allowed = entries[base].labels | ({"le"} if series.endswith("_bucket") else set())
            assert label in allowed, f"{series} has no label {label!r}: {expr}"
        extra = promql_grouping_labels(expr) - every_label - TARGET_LABELS - {"le"}
        assert not extra, f"grouping by undocumented labels {extra}: {expr}"


# --------------------------------------------------------------------------- dashboards


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    board = load_dashboard(path)
    assert board["uid"] and board["title"]
    assert 36 <= board["schemaVersion"] <= 41
    panels = list(dashboard_panels(board))
    assert panels
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        assert panel["type"] in ("timeseries", "stat"), panel["type"]
        assert panel.get("title"), f"panel {panel['id']} has no title"
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        targets = panel.get("targets", [])
        assert targets, f"{panel['title']} has no query"
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in targets:
            assert target.get("expr", "").strip(), panel["title"]
            assert target.get("datasource", {"uid": DATASOURCE_UID})["uid"] == DATASOURCE_UID


def test_dashboards_have_distinct_uids() -> None:
    uids = [load_dashboard(path)["uid"] for path in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize(
    ("board", "needles"),
    [
        (
            "fleet.json",
            (
                "signage_devices",
                "signage_devices_behind_plan",
                "signage_incidents_open",
                'route="/v1/device/heartbeat"',
                "signage_plan_polls_total",
                "signage_pop_events_total",
                "histogram_quantile(0.5, sum by (le) (rate(signage_plan_propagation_seconds",
                "histogram_quantile(0.95, sum by (le) (rate(signage_plan_propagation_seconds",
            ),
        ),
        (
            "service.json",
            (
                "signage_http_requests_total",
                "histogram_quantile(0.99, sum by (app, le)",
                "signage_graphql_operations_total",
                "signage_graphql_errors_total",
                "signage_heartbeat_batch_size",
                "signage_queue_messages",
                "signage_actor_duration_seconds_bucket",
                "time() - max by (actor) (signage_actor_last_success_timestamp_seconds)",
                "signage_db_pool_connections",
                "signage_redis_pool_connections",
                "signage_event_loop_lag_seconds_bucket",
                "up{",
            ),
        ),
    ],
)
def test_dashboard_shows_what_it_is_for(board: str, needles: tuple[str, ...]) -> None:
    exprs = "\n".join(
        target["expr"]
        for panel in dashboard_panels(load_dashboard(GRAFANA / "dashboards" / board))
        for target in panel["targets"]
    )
    missing = [needle for needle in needles if needle not in exprs]
    assert not missing


# --------------------------------------------------------------------------- alert rules


def test_alert_rules_are_complete() -> None:
    groups = load_yaml(ALERT_RULES)["groups"]
    assert groups and all(group["name"] and group["rules"] for group in groups)
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names repeat"
    for rule in rules:
        name = rule.get("alert")
        assert name and re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), name
        assert str(rule.get("expr", "")).strip(), name
        assert _DURATION.match(str(rule.get("for", ""))), f"{name}: for"
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name


TOPICS: dict[str, tuple[str, ...]] = {
    "edge error rate": ("signage_http_requests_total", 'app="edge"', 'status=~"5..'),
    "admin API 5xx": ("signage_http_requests_total", 'app="api"', 'status=~"5..'),
    "queue backlog": ('signage_queue_messages{state="ready"}', "> 1000"),
    "dead letters": ('signage_queue_messages{state="dead"}', "> 0"),
    "plan propagation lag": ("histogram_quantile(0.95", "signage_plan_propagation_seconds", "60"),
    "sweep failures": ('actor="sweep_devices"', 'outcome="failed"', "increase("),
    "sweep staleness": ('signage_actor_last_success_timestamp_seconds{actor="sweep_devices"}',),
    "fleet offline ratio": ('status="offline"', 'status=~"online|offline"', "> 0.2"),
    "fleet figures unreadable": ("signage_fleet_scrape_success", "== 0"),
    "target down": ("up{", "== 0"),
}


@pytest.mark.parametrize("topic", TOPICS)
def test_alert_topics_are_covered(topic: str) -> None:
    needles = TOPICS[topic]
    matching = [rule for rule in alert_rules() if all(n in str(rule["expr"]) for n in needles)]
    assert matching, f"no alert rule for {topic}"


def test_scheduler_gauges_are_not_summed_across_instances() -> None:
    """Several scheduler instances report the same queue and fleet figures: take the max."""
    once_per_stack = ("signage_queue_messages", "signage_devices", "signage_fleet_scrape_success")
    for rule in alert_rules():
        expr = str(rule["expr"])
        for gauge in once_per_stack:
            for selector in re.finditer(rf"\b{gauge}\b(?!_)", expr):
                before = expr[: selector.start()].rstrip().rstrip("(").rstrip()
                assert re.search(r"\bmax(?:\s+by\s*\([^)]*\))?$", before), (
                    f"{rule['alert']}: {gauge} not under max"
                )


# --------------------------------------------------------------------------- Prometheus


def test_prometheus_scrapes_every_process_at_its_documented_port(
    prometheus_config: dict[str, Any],
) -> None:
    ports = documented_ports()
    assert set(ports) == set(APP_SERVICES)
    assert prometheus_config["global"]["scrape_interval"] == "15s"
    scraped: dict[str, list[str]] = {}
    for job in prometheus_config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        assert job.get("scheme", "http") == "http"
        scraped[job["job_name"]] = [
            target for static in job["static_configs"] for target in static["targets"]
        ]
    for service, port in ports.items():
        assert scraped.get(service) == [f"{service}:{port}"], service


def test_no_metric_label_clashes_with_the_target_labels_of_prometheus(
    prometheus_config: dict[str, Any],
) -> None:
    """`job` and `instance` are Prometheus's: a metric label of that name would be renamed
    `exported_job` (or, with honor_labels, would overwrite the scrape target's)."""
    for name, entry in catalog().items():
        assert not {"job", "instance"} & set(entry.labels), name
    for job in prometheus_config["scrape_configs"]:
        assert not job.get("honor_labels"), job["job_name"]


def test_prometheus_loads_the_alert_rules(
    prometheus_config: dict[str, Any], compose: dict[str, Any]
) -> None:
    assert prometheus_config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mounts = _bind_mounts(_service(compose, "prometheus"))
    assert mounts["/etc/prometheus/alerts.yml"] == (ALERT_RULES, True)
    assert mounts["/etc/prometheus/prometheus.yml"] == (PROMETHEUS_CONFIG, True)
    command = " ".join(_service(compose, "prometheus").get("command", []))
    config_flag = re.search(r"--config\.file=(\S+)", command)
    assert config_flag is None or config_flag[1] == "/etc/prometheus/prometheus.yml"


# --------------------------------------------------------------------------- Grafana


def test_grafana_provisions_the_datasource_the_dashboards_use(compose: dict[str, Any]) -> None:
    datasources = load_yaml(DATASOURCES)["datasources"]
    assert len(datasources) == 1
    source = datasources[0]
    assert (source["name"], source["uid"], source["type"]) == (
        "Prometheus",
        DATASOURCE_UID,
        "prometheus",
    )
    assert source["url"] == "http://prometheus:9090"
    assert any(str(port).endswith(":9090") for port in _service(compose, "prometheus")["ports"])


def test_grafana_loads_the_mounted_dashboards(compose: dict[str, Any]) -> None:
    providers = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert [provider["type"] for provider in providers] == ["file"]
    path = providers[0]["options"]["path"]
    assert path == "/var/lib/grafana/dashboards"
    mounts = _bind_mounts(_service(compose, "grafana"))
    assert mounts[path] == (GRAFANA / "dashboards", True)
    assert mounts["/etc/grafana/provisioning"] == (GRAFANA / "provisioning", True)


# --------------------------------------------------------------------------- compose


def test_monitoring_services_run_only_with_the_profile(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in MONITORING_SERVICES:
            assert service.get("profiles") == ["monitoring"], name
        else:
            assert "profiles" not in service, f"{name} would not start with a plain `up`"


def test_monitoring_leaves_the_app_services_alone(compose: dict[str, Any]) -> None:
    for name in compose["services"]:
        if name in MONITORING_SERVICES:
            continue
        service = _service(compose, name)
        depends_on = service.get("depends_on", {})
        assert not set(depends_on) & set(MONITORING_SERVICES), name
        published = " ".join(str(port) for port in service.get("ports", []))
        for port in documented_ports().values():
            assert str(port) not in published, f"{name} publishes metrics port {port}"
    for name in APP_SERVICES:
        env = _service(compose, name)["environment"]
        assert env["METRICS_HOST"] == "0.0.0.0", name
        assert "METRICS_TOKEN" not in env and "METRICS_PUBLIC" not in env, name


@pytest.mark.parametrize("name", MONITORING_SERVICES)
def test_monitoring_services_are_pinned_and_mount_repository_files(
    compose: dict[str, Any], name: str
) -> None:
    service = _service(compose, name)
    image, _, tag = service["image"].partition(":")
    assert image in ("prom/prometheus", "grafana/grafana"), image
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name} is not pinned: {service['image']}"
    mounts = _bind_mounts(service)
    assert mounts, name
    for target, (source, read_only) in mounts.items():
        assert source.exists(), f"{name} mounts {source}, which is not in the repository"
        assert read_only, f"{name} mounts {target} writable"
    assert service["healthcheck"]["test"], name
    assert "restart" in service


def test_grafana_holds_no_password(compose: dict[str, Any]) -> None:
    grafana = _service(compose, "grafana")
    assert grafana["depends_on"] and "prometheus" in grafana["depends_on"]
    for key, value in grafana.get("environment", {}).items():
        assert "PASSWORD" not in key, f"grafana.{key}: the password comes from a secret"
        assert "GRAFANA_ADMIN_PASSWORD" not in str(value), key
    assert grafana["secrets"] == ["grafana_admin_password"]
    assert compose["secrets"]["grafana_admin_password"] == {"environment": "GRAFANA_ADMIN_PASSWORD"}
    entrypoint = " ".join(grafana["entrypoint"])
    assert "test -s /run/secrets/grafana_admin_password" in entrypoint
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana_admin_password" in entrypoint
    assert "exec /run.sh" in entrypoint
    for value in _strings(compose):  # values only: a comment may name the variable
        assert "${GRAFANA_ADMIN_PASSWORD" not in value, f"the password is substituted: {value}"


def test_plain_up_needs_no_monitoring_variable(compose: dict[str, Any]) -> None:
    """Compose interpolates every service before it filters by profile: a `${VAR:?...}` in a
    monitoring service would make the core stack's `docker compose up` refuse to start."""
    for value in _strings(compose):
        substitute(value, CORE_ENV)  # raises KeyError on a required variable left unset
