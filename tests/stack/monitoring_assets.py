"""The monitoring assets of deploy/ read for the tests, against the catalog of docs/metrics.md.

No Prometheus or promtool runs here, so the PromQL of the dashboards and alert rules is read
with a small lexer: enough to name every metric and label an expression uses, which is what
drifts silently when a metric is renamed.

This module does not import `core`: the assets are checked against the documented contract,
not against the code that implements it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "docs" / "metrics.md"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = (GRAFANA / "dashboards" / "fleet.json", GRAFANA / "dashboards" / "service.json")
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "signage.yml"
COMPOSE = ROOT / "docker-compose.yml"

METRIC_TYPES = frozenset({"counter", "gauge", "histogram", "summary"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Labels Prometheus adds to every scraped series, and the bucket bound of a histogram.
TARGET_LABELS = frozenset({"job", "instance"})
SYNTHETIC_METRICS = frozenset({"up"})

# Aggregation operators, functions and keywords of PromQL: never metric names.
AGGREGATIONS = frozenset(
    {
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    }
)  # fmt: skip
FUNCTIONS = frozenset(
    {
        "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max",
        "clamp_min", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta",
        "deriv", "double_exponential_smoothing", "exp", "floor", "histogram_avg",
        "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
        "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
        "info", "irate", "label_join", "label_replace", "ln", "log10", "log2",
        "mad_over_time", "minute", "month", "predict_linear", "present_over_time", "rate",
        "resets", "round", "scalar", "sgn", "sort", "sort_by_label", "sort_by_label_desc",
        "sort_desc", "sqrt", "time", "timestamp", "vector", "year", "avg_over_time",
        "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
        "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
        "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh",
        "tan", "tanh", "deg", "rad", "pi", "start", "end",
    }
)  # fmt: skip
KEYWORDS = frozenset(
    {
        "and", "or", "unless", "atan2", "bool", "offset", "by", "without", "on", "ignoring",
        "group_left", "group_right", "inf", "nan",
    }
)  # fmt: skip
GROUPING = ("by", "without", "on", "ignoring", "group_left", "group_right")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_COMMENT = re.compile(r"#[^\n]*")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(rf"\b(?:{'|'.join(GROUPING)})\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_NAME_MATCHER = re.compile(r"\b__name__\s*=\s*\"([^\"]+)\"")
# An identifier not glued to a number (5m, 1e3), a label (.x) or a Grafana variable ($x).
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")
_SELECTOR = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_LABEL = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    type: str
    labels: frozenset[str]


# --------------------------------------------------------------------------- the catalog


def catalog() -> dict[str, CatalogEntry]:
    """Every metric of the tables of docs/metrics.md: `| \\`name\\` | type | labels |`."""
    entries: dict[str, CatalogEntry] = {}
    for line in CATALOG.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            continue
        name = re.fullmatch(r"`([a-z_:][a-z0-9_:]*)`", cells[0])
        if not name or cells[1] not in METRIC_TYPES:
            continue
        # Label names are the backticked words outside parentheses: the values are inside.
        labels_text = re.sub(r"\([^)]*\)", "", "|".join(cells[2:]))
        labels = frozenset(re.findall(r"`([A-Za-z_]\w*)`", labels_text))
        entries[name[1]] = CatalogEntry(name[1], cells[1], labels)
    return entries


def catalog_metrics() -> dict[str, str]:
    """Metric name to type (counter, gauge, histogram...), as docs/metrics.md documents them."""
    return {name: entry.type for name, entry in catalog().items()}


def documented_ports() -> dict[str, int]:
    """The compose service (api, edge, worker, scheduler) to its metrics port, from the docs.

    Rows of the "Where they are served" table: `http://127.0.0.1:<port>/metrics` and the
    `METRICS_<SERVICE>_PORT` setting that moves it.
    """
    ports: dict[str, int] = {}
    for line in CATALOG.read_text().splitlines():
        url = re.search(r"http://[^/`]+:(\d+)/metrics", line)
        setting = re.search(r"`METRICS_([A-Z]+)_PORT`", line)
        if url and setting:
            ports[setting[1].lower()] = int(url[1])
    return ports


# --------------------------------------------------------------------------- PromQL


def _without_literals(expr: str) -> str:
    """The expression without comments, string literals, Grafana variables and ranges."""
    expr = _STRING.sub('""', expr)
    expr = _COMMENT.sub(" ", expr)
    expr = _GRAFANA_VARIABLE.sub(" ", expr)
    return _RANGE.sub(" ", expr)


def promql_identifiers(expr: str) -> set[str]:
    """The metric names a PromQL expression selects.

    Leaves out functions and aggregations (any identifier called with `(`), keywords,
    label names (in `{...}` matchers and `by`/`without`/`on`/`ignoring`/`group_*` lists),
    string literals, durations, numbers and Grafana variables such as `$__rate_interval`.
    A name selected as `{__name__="..."}` is included. A call of anything that is not a
    known PromQL function raises ValueError, so a misspelt function is not read as a metric.
    """
    names = set(_NAME_MATCHER.findall(expr))
    text = _without_literals(expr)
    text = _GROUPING.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        identifier, called = match[1], match[2]
        if called:
            if identifier not in FUNCTIONS | AGGREGATIONS:
                raise ValueError(f"unknown PromQL function {identifier!r} in {expr!r}")
            continue
        if identifier.lower() in KEYWORDS or identifier in AGGREGATIONS:
            continue
        names.add(identifier)
    return names


def promql_selector_labels(expr: str) -> set[tuple[str, str]]:
    """(metric, label) for every label matcher of a named selector: `metric{label="..."}`."""
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VARIABLE.sub(" ", _COMMENT.sub(" ", text))
    found: set[tuple[str, str]] = set()
    for match in _SELECTOR.finditer(text):
        metric = match[1]
        if not metric or metric.lower() in KEYWORDS:
            continue
        for label in _MATCHER_LABEL.findall(match[2]):
            if label != "__name__":
                found.add((metric, label))
    return found


def promql_grouping_labels(expr: str) -> set[str]:
    """Every label named in a `by`, `without`, `on`, `ignoring` or `group_*` list."""
    text = _without_literals(expr)
    return {label for group in _GROUPING.findall(text) for label in _LABEL.findall(group)}


def metric_base(name: str, types: dict[str, str]) -> str:
    """The catalog name of a series name: a histogram's `_bucket`/`_sum`/`_count` removed."""
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and types.get(base) == "histogram":
            return base
    return name


# --------------------------------------------------------------------------- the assets


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_dashboard(path: Path) -> dict[str, Any]:
    board = json.loads(path.read_text())
    assert isinstance(board, dict)
    return board


def dashboard_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, those nested in collapsed rows included."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of every group of alerts.yml."""
    rules = load_yaml(ALERT_RULES)
    return [rule for group in rules["groups"] for rule in group["rules"]]


def queried_expressions() -> list[str]:
    """The PromQL of every dashboard panel target and every alert rule."""
    exprs = [
        target["expr"]
        for path in DASHBOARDS
        for panel in dashboard_panels(load_dashboard(path))
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    return exprs + [str(rule["expr"]) for rule in alert_rules()]


def queried_series() -> set[str]:
    """Every series name the assets select, as written (histograms with their suffix)."""
    return {name for expr in queried_expressions() for name in promql_identifiers(expr)}


def queried_metrics() -> set[str]:
    """Every catalog metric the dashboards and alert rules use (histograms by base name).

    `up`, which Prometheus writes for every target, is left out.
    """
    types = catalog_metrics()
    return {metric_base(name, types) for name in queried_series()} - SYNTHETIC_METRICS
