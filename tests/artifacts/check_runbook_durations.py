#!/usr/bin/env python3
"""Every duration a runbook states must be one its alert rule implies.

  check_runbook_durations.py [RULES]     RULES defaults to alerts/garbage-audit.rules.yaml

For each alert, the durations the rule implies are its `for:`, its `keep_firing_for:`, every range
selector in its expression (`[10m]`), every age threshold compared with `time()` (`> 900`), and
`for:` plus each of those (when the alert fires after the condition first holds). The prose of
docs/runbooks/<Alert>.md (code blocks and inline `--flag` spans left out: those are command
arguments such as `--since=30m`) may only state those, or a daemon default named in DEFAULTS. The
index table in docs/runbooks/README.md must give each alert's `for:` exactly, and its "fires when"
column may only state durations of that alert.

Exit status 0 when everything agrees; 1 with one line per disagreement.
"""

import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNBOOKS = os.path.join(ROOT, "docs", "runbooks")

# Durations a runbook may name that are daemon flag defaults, not rule thresholds.
DEFAULTS = {
    30: "--request-timeout default (30s)",
    300: "remediation back-off, first step (queue.rs BACKOFF_BASE, 5 min)",
    21600: "remediation back-off cap (queue.rs BACKOFF_MAX, 6 h)",
}

UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60,
         "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600}
DURATION = re.compile(r"\b(\d+)[ -]?(seconds?|minutes?|hours?|min|sec|s|m|h)\b")
PROM_DURATION = re.compile(r"(\d+)([smhdw])")


def prom_seconds(text):
    total = 0
    for n, unit in PROM_DURATION.findall(str(text)):
        total += int(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return total


def implied(rule):
    """Seconds the rule implies (see the module docs)."""
    expr = rule.get("expr", "")
    base = {prom_seconds(r) for r in re.findall(r"\[([0-9smhdw]+)\]", expr)}
    base |= {int(t) for t in re.findall(r"time\(\)\s*-[^>]*>\s*(\d+)", expr)}
    hold = prom_seconds(rule.get("for", "0s"))
    out = set(base) | {b + hold for b in base}
    for key in ("for", "keep_firing_for"):
        if key in rule:
            out.add(prom_seconds(rule[key]))
    return out


def prose(markdown):
    """The text outside fenced code blocks, without inline code spans that hold flags."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return re.sub(r"`[^`]*--[^`]*`", "", text)


def stated(text):
    """(seconds, as written, line number) of every duration in `text`."""
    for number, line in enumerate(text.splitlines(), 1):
        for n, unit in DURATION.findall(line):
            yield int(n) * UNITS[unit], f"{n} {unit}", number


def fmt(seconds):
    return ", ".join(sorted((f"{s // 60}m" if s % 60 == 0 else f"{s}s") for s in seconds))


def main():
    rules_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "alerts", "garbage-audit.rules.yaml")
    with open(rules_path) as f:
        rules = {r["alert"]: r for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r}
    problems = []
    for alert, rule in sorted(rules.items()):
        allowed = implied(rule)
        path = os.path.join(RUNBOOKS, f"{alert}.md")
        if not os.path.exists(path):
            problems.append(f"{alert}: no runbook {path}")
            continue
        with open(path) as f:
            text = prose(f.read())
        for seconds, written, line in stated(text):
            if seconds not in allowed and seconds not in DEFAULTS:
                problems.append(f"docs/runbooks/{alert}.md:{line}: states {written}; the rule implies only {fmt(allowed)}")

    with open(os.path.join(RUNBOOKS, "README.md")) as f:
        index = f.read()
    seen = set()
    for line in index.splitlines():
        m = re.match(r"\|\s*\[(\w+)\]\([^)]*\)\s*\|([^|]*)\|([^|]*)\|\s*([^|]*?)\s*\|", line)
        if not m:
            continue
        alert, _, fires_when, for_column = m.groups()
        seen.add(alert)
        rule = rules.get(alert)
        if rule is None:
            problems.append(f"docs/runbooks/README.md: {alert} has no rule")
            continue
        if prom_seconds(for_column) != prom_seconds(rule.get("for", "0s")):
            problems.append(f"docs/runbooks/README.md: {alert} `for:` says {for_column}, the rule says {rule.get('for')}")
        allowed = implied(rule)
        for seconds, written, _ in stated(prose(fires_when)):
            if seconds not in allowed:
                problems.append(f"docs/runbooks/README.md: {alert} 'fires when' states {written}; the rule implies only {fmt(allowed)}")
    for alert in sorted(set(rules) - seen):
        problems.append(f"docs/runbooks/README.md: no row for {alert}")

    for p in problems:
        print(p)
    print(f"runbook durations: {len(rules)} alerts checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
