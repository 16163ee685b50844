"""Statistics of the dupe-factor sweep: per-condition means with 95% t-intervals, paired differences.

Seeds are few (3-5), so intervals use Student's t with ``n - 1`` degrees of freedom, computed
exactly here (no SciPy): for an integer ``df`` the t distribution's CDF has a closed form
(a finite series in ``cos(atan(t / sqrt(df)))``), inverted by bisection.

Pairing: run ``seed`` of every condition shares its initial weights, its data order and the
fixed validation masks with the dynamic run of that seed; only the training masks differ. So
``static(k) - dynamic`` is taken seed by seed, and the interval of those differences is
narrower than the difference of two independent means whenever seeds agree.
"""

from __future__ import annotations

import math
import statistics

__all__ = ["METRICS", "condition_name", "mean_interval", "sweep_markdown", "summarize_sweep", "t_quantile"]

# Line key -> what it is (a column of summary.md).
METRICS = {
    "memorization_gap": "memorization gap (nats)",
    "val_loss": "val MLM loss (nats)",
    "val_accuracy": "val MLM accuracy",
    "probe_test_accuracy": "linear-probe test accuracy",
}


def _abs_t_cdf(t: float, df: int) -> float:
    """``P(|T| <= t)`` for Student's t with integer ``df`` >= 1 (closed form)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:  # odd: 2/pi * (theta + sin cos * (1 + 2/3 c2 + 2*4/(3*5) c2^2 + ...)), df - 1 terms / 2
        total, term = 0.0, 1.0
        for j in range((df - 1) // 2):
            total += term
            term *= c2 * (2 * j + 2) / (2 * j + 3)
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    total, term = 0.0, 1.0  # even: sin * (1 + 1/2 c2 + 1*3/(2*4) c2^2 + ...), df / 2 terms
    for j in range(df // 2):
        total += term
        term *= c2 * (2 * j + 1) / (2 * j + 2)
    return math.sin(theta) * total


def t_quantile(df: int, level: float = 0.95) -> float:
    """Half-width factor of a two-sided ``level`` t-interval: ``t`` with ``P(|T| <= t) = level``.

    Raises:
        ValueError: ``df`` is not an int >= 1, or ``level`` is not in (0, 1).
    """
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"df must be an int >= 1 (seeds - 1); got {df!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}.")
    lo, hi = 0.0, 1.0
    while _abs_t_cdf(hi, df) < level:
        hi *= 2
    for _ in range(200):  # bisection to float precision
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _abs_t_cdf(mid, df) < level else (lo, mid)
        if hi - lo <= 1e-12 * hi:
            break
    return (lo + hi) / 2


def mean_interval(values, level: float = 0.95) -> dict:
    """``{"values", "n", "mean", "sd", "ci95": [lo, hi] or None}`` (no interval from one value).

    Raises:
        ValueError: ``values`` is empty.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_interval needs at least one value.")
    n, mean = len(values), statistics.fmean(values)
    if n == 1:
        return {"values": values, "n": 1, "mean": mean, "sd": None, "ci95": None}
    sd = statistics.stdev(values)
    half = t_quantile(n - 1, level) * sd / math.sqrt(n)
    return {"values": values, "n": n, "mean": mean, "sd": sd, "ci95": [mean - half, mean + half]}


def condition_name(condition: str, dupe_factor: int | None) -> str:
    """``"static_k5"`` or ``"dynamic"``: the key of a condition in the summary."""
    return "dynamic" if condition == "dynamic" else f"static_k{dupe_factor}"


def summarize_sweep(lines: list[dict]) -> dict:
    """Per-condition means and paired ``static(k) - dynamic`` differences of the runs' lines.

    Args:
        lines: The sweep's ``runs.jsonl`` records (one per finished run).

    Returns:
        ``{"conditions": {name: {"condition", "dupe_factor", "seeds", metric: mean_interval}},
        "paired_differences": {"static_kK - dynamic": {"dupe_factor", "seeds", metric: ...}}}``;
        conditions ordered static by k, then dynamic. A metric missing from every line of a
        condition (no probe) is absent.
    """
    groups: dict[str, list[dict]] = {}
    for line in sorted(lines, key=lambda r: (r["condition"] == "dynamic", r["dupe_factor"] or 0, r["seed"])):
        groups.setdefault(condition_name(line["condition"], line["dupe_factor"]), []).append(line)
    conditions = {}
    for name, rows in groups.items():
        entry = {"condition": rows[0]["condition"], "dupe_factor": rows[0]["dupe_factor"]}
        entry["seeds"] = [r["seed"] for r in rows]
        for key in METRICS:
            present = [r[key] for r in rows if r.get(key) is not None]
            if present:
                entry[key] = mean_interval(present)
        conditions[name] = entry
    paired = {}
    dynamic = {r["seed"]: r for r in groups.get("dynamic", [])}
    for name, rows in groups.items():
        if name == "dynamic":
            continue
        both = [(r, dynamic[r["seed"]]) for r in rows if r["seed"] in dynamic]
        if not both:
            continue
        entry = {"dupe_factor": rows[0]["dupe_factor"], "seeds": [s["seed"] for s, _ in both]}
        for key in METRICS:
            diffs = [s[key] - d[key] for s, d in both if s.get(key) is not None and d.get(key) is not None]
            if diffs:
                entry[key] = mean_interval(diffs)
        paired[f"{name} - dynamic"] = entry
    return {"conditions": conditions, "paired_differences": paired}


def _cell(stat: dict | None, scale: float = 1.0, signed: bool = False, digits: int = 3) -> str:
    if stat is None:
        return "-"
    fmt = f"{{:{'+' if signed else ''}.{digits}f}}"
    text = fmt.format(scale * stat["mean"])
    if stat["ci95"] is not None:
        lo, hi = (fmt.format(scale * v) for v in stat["ci95"])
        text += f" [{lo}, {hi}]"
    return text


def sweep_markdown(summary: dict) -> str:
    """summary.md: the means table, the paired differences and the baselines, with provenance."""
    lines = [
        "Means over seeds with 95% t-intervals [low, high]; accuracies in %.",
        "",
        "| condition | seeds | memorization gap (nats) | val MLM loss (nats) | val MLM accuracy, % "
        "| linear-probe test accuracy, % |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["conditions"].values():
        label = "dynamic" if row["condition"] == "dynamic" else f"static, k={row['dupe_factor']}"
        lines.append(
            f"| {label} | {len(row['seeds'])} | {_cell(row.get('memorization_gap'), signed=True)} "
            f"| {_cell(row.get('val_loss'))} | {_cell(row.get('val_accuracy'), 100, digits=1)} "
            f"| {_cell(row.get('probe_test_accuracy'), 100, digits=1)} |"
        )
    lines += [
        "",
        "Paired differences static(k) - dynamic, seed by seed (same init, data order, validation masks):",
        "",
        "| k | pairs | memorization gap (nats) | val MLM loss (nats) | val MLM accuracy, points "
        "| linear-probe accuracy, points |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["paired_differences"].values():
        lines.append(
            f"| {row['dupe_factor']} | {len(row['seeds'])} "
            f"| {_cell(row.get('memorization_gap'), signed=True)} "
            f"| {_cell(row.get('val_loss'), signed=True)} "
            f"| {_cell(row.get('val_accuracy'), 100, signed=True, digits=2)} "
            f"| {_cell(row.get('probe_test_accuracy'), 100, signed=True, digits=2)} |"
        )
    uni, base = summary.get("unigram_baseline"), summary.get("probe_baseline")
    lines.append("")
    if uni:
        lines.append(
            f"Unigram baseline (no context) on the same validation masks: loss {uni['loss']:.3f} nats, "
            f"accuracy {100 * uni['accuracy']:.1f}%."
        )
    if base:
        lines.append(
            f"Linear probe on an untrained encoder: test accuracy {100 * base['test_accuracy']:.1f}% "
            f"(majority class {100 * base['majority_test_accuracy']:.1f}%)."
        )
    plan = summary.get("plan", {})
    if plan:
        lines.append(
            f"Runs: {plan['runs_done']} of {plan['runs_planned']} done"
            + (f"; missing: {', '.join(plan['runs_missing'])}" if plan["runs_missing"] else "")
            + "."
        )
    prov = summary.get("provenance")
    if prov:
        lines.append(
            f"Device: {', '.join(summary.get('devices', [])) or prov['device']}; precision: "
            f"{', '.join(summary.get('precisions', [])) or '-'}; sweep wall time {prov['wall_time_s']:.0f} s "
            f"(sum of run times {summary.get('run_wall_s_sum', 0):.0f} s, "
            f"{summary.get('workers', 1)} worker(s)); "
            f"{prov['date']}; commit {prov['git_commit']}; `{prov['command']}`."
        )
    elif plan:
        lines.append(
            f"The sweep was cut before its end (no wall time recorded); devices: "
            f"{', '.join(summary.get('devices', [])) or '-'}; sum of run times "
            f"{summary.get('run_wall_s_sum', 0):.0f} s."
        )
    return "\n".join(lines) + "\n"
