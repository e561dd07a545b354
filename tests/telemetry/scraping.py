"""Reading a Prometheus text exposition the way Prometheus does (prometheus-client's parser)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Scrape:
    families: frozenset[str]  # metric family names, HELP/TYPE included with no sample
    samples: tuple[Sample, ...]

    @property
    def names(self) -> frozenset[str]:
        """Everything a query can name: families and the samples' own names."""
        return self.families | {sample.name for sample in self.samples}

    def value(self, name: str, /, **labels: str) -> float:
        """The sum over the samples called `name` whose labels include `labels`."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str, /, **labels: str) -> bool:
        return any(
            sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
            for sample in self.samples
        )


def parse(text: str) -> Scrape:
    families: set[str] = set()
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        if family.type == "counter":
            families.add(family.name + "_total")
        samples.extend(Sample(s.name, dict(s.labels), float(s.value)) for s in family.samples)
    return Scrape(frozenset(families), tuple(samples))


def fetch(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")


def scrape(url: str, token: str | None) -> Scrape:
    status, body = fetch(url, token)
    assert status == 200, (status, body[:500])
    return parse(body)
