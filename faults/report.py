"""The suite's results as a markdown table (printed, and kept in docs/reliability.md)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from faults.suite import FaultResult

BEGIN = "<!-- faults:last-run:begin -->"
END = "<!-- faults:last-run:end -->"

HEADER = (
    "| fault | requests | errors by status | unavailable s | recovered after s "
    "| lost | duplicated | stale | wedged |",
    "|---|---:|---|---:|---:|---:|---:|---:|---|",
)


def _errors(result: FaultResult) -> str:
    errors = result.traffic.errors
    if not errors:
        return "none"
    return ", ".join(f"{outcome}: {count:,}" for outcome, count in sorted(errors.items()))


def _number(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _row(result: FaultResult) -> str:
    traffic = result.traffic
    recovered = "-" if result.recover_s is None else f"{result.recover_s:.1f}"
    lost = result.ledger.lost if result.ledger else None
    duplicated = result.ledger.duplicated if result.ledger else None
    stale = result.staleness.stale if result.staleness else None
    wedged = ", ".join(sorted(result.wedged)) or "none"
    name = result.name if result.error is None else f"{result.name} (NOT MEASURED)"
    return (
        f"| {name} | {traffic.requests:,} | {_errors(result)} | {traffic.unavailable_s} "
        f"| {recovered} | {_number(lost)} | {_number(duplicated)} | {_number(stale)} | {wedged} |"
    )


def _details(result: FaultResult) -> list[str]:
    lines = [f"- **{result.name}**: {result.title}."]
    if result.error:
        lines.append(f"  - not measured: {result.error}")
    if result.injected_at is not None:
        steps = "; ".join(f"{at - result.injected_at:+.1f}s {what}" for at, what in result.actions)
        lines.append(f"  - timeline (from the injection): {steps}")
    if result.readiness is not None:
        ready = result.readiness
        after = "?" if ready.ready_after_s is None else f"{ready.ready_after_s:.1f} s"
        lines.append(
            f"  - /readyz of edge or api failing for {ready.not_ready_s:.1f} s; both ready "
            f"{after} after the fault was undone; the last failed player request "
            + (
                "came before that"
                if not result.traffic.recover_s
                else f"ended {result.traffic.recover_s:.1f} s after it"
            )
        )
    if result.p99_ms:
        lines.append(
            "  - p99 latency of the players' requests: "
            + ", ".join(f"{name} {ms:,.0f} ms" for name, ms in result.p99_ms.items())
        )
    if result.ledger:
        ledger = result.ledger
        lines.append(
            f"  - {ledger.acked:,} events acknowledged, {ledger.stored_events:,} stored "
            f"(distinct ids), {ledger.aggregated:,} counted by the aggregates"
            + (f"; lost ids e.g. {', '.join(ledger.lost_sample)}" if ledger.lost else "")
        )
    if result.staleness:
        s = result.staleness
        lines.append(
            f"  - plans of {s.devices} devices at the bound ({result.stale_bound_s:.0f} s): "
            f"{s.stale} stale ({s.stored_behind} stored plans behind, {s.cache_behind} cached "
            f"ETags behind, {s.cache_missing} without a cached ETag)"
        )
        lines.append(
            f"  - the plan change reached {result.plans_changed} of the "
            f"{result.plans_before_change} stored plans it was made for"
        )
        if result.plans_current_after_s is not None:
            lines.append(
                f"  - every plan current {result.plans_current_after_s:.1f} s after the fault "
                "was undone (or its change committed, if later)"
            )
        if s.stale:
            converged = (
                "did not converge within the watch"
                if result.converged_after_s is None
                else f"all current {result.converged_after_s:.0f} s after the bound"
            )
            lines.append(f"  - {converged}")
    for kind, problem in sorted(result.wedged.items()):
        lines.append(f"  - {kind}: {problem}")
    lines.extend(f"  - {note}" for note in result.notes)
    return lines


def table(results: Sequence[FaultResult]) -> str:
    return "\n".join([*HEADER, *(_row(result) for result in results)])


def markdown(results: Sequence[FaultResult], heading: str) -> str:
    lines = [heading, "", table(results), ""]
    bounds = {result.stale_bound_why for result in results if result.stale_bound_why}
    if len(bounds) == 1:
        lines += [f"Stale is measured at the reconciliation bound: {bounds.pop()}.", ""]
    lines += ["Details:", ""]
    for result in results:
        lines.extend(_details(result))
    return "\n".join(lines) + "\n"


def write_into(doc: Path, section: str) -> None:
    """Replace the text between the markers in `doc` (they are added when missing)."""
    text = doc.read_text() if doc.exists() else ""
    block = f"{BEGIN}\n{section}{END}"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    doc.write_text(text)
