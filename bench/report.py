#!/usr/bin/env python3
"""Builds bench/results.json and the generated part of bench/RESULTS.md from
the measurements bench/run.sh left in bench/out/.

    python3 bench/report.py bench/out bench/results.json bench/RESULTS.md

Only the text between the GENERATED markers of RESULTS.md is replaced; the
analysis written around it is kept.
"""

import glob
import json
import os
import platform
import re
import subprocess
import sys
import time

BEGIN = "<!-- BEGIN GENERATED (bench/report.py) -->"
END = "<!-- END GENERATED -->"

TARGETS = {
    "me_vs_pgbench": 0.50,
    "login_vs_verify": 0.90,
    "mixed_p99_factor": 3.0,
    "filtered_p99_ms": 20.0,
    "idle_rss_mb": 30.0,
    "load_rss_mb": 150.0,
}


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except OSError:
        mem_kb = 0
    commit = sh("git", "rev-parse", "--short", "HEAD")
    dirty = bool(sh("git", "status", "--porcelain", "--", "src", "migrations", "Cargo.toml"))
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "commit": commit + ("+dirty" if dirty else ""),
        "postgres": sh("psql", "--version"),
        "wrk": (sh("wrk", "--version") or sh("sh", "-c", "wrk -v 2>&1")).splitlines()[0:1],
    }


def plan_nodes(plan, depth=0):
    """Pre-order list of (depth, node type, relation, index) of an EXPLAIN JSON plan."""
    out = [(depth, plan.get("Node Type"), plan.get("Relation Name"), plan.get("Index Name"))]
    for child in plan.get("Plans", []):
        out.extend(plan_nodes(child, depth + 1))
    return out


def in_series(health, pg_tps):
    """The most a request of one HTTP exchange and one select can reach: both
    run on the same cores as wrk and PostgreSQL, so even a handler costing
    nothing cannot exceed the two ceilings taken in series."""
    return 1 / (1 / health + 1 / pg_tps)


def plan_summary(explained):
    if not explained:
        return None
    top = explained[0]
    nodes = plan_nodes(top["Plan"])
    shape = " → ".join(
        n[1] + (f" ({n[3]})" if n[3] else (f" ({n[2]})" if n[2] else "")) for n in nodes
    )
    return {
        "execution_ms": top.get("Execution Time"),
        "shape": shape,
        "seq_scan_on_users": any(n[1] == "Seq Scan" and n[2] == "users" for n in nodes),
        "sent": top.get("Sent", True),
    }


def scenario_rows(out):
    rows = {}
    for path in sorted(glob.glob(os.path.join(out, "scenarios", "*.json"))):
        data = load(path)
        if data is None or "wrk" not in data:
            continue
        w = data["wrk"]
        requests = max(w["requests"], 1)
        data["errors_total"] = sum(w["errors"].values())
        data["service_cpu_ms_per_req"] = 1000 * data["service_cpu_s"] / requests
        data["pg_cpu_ms_per_req"] = 1000 * data["pg_cpu_s"] / requests
        rows[(data["backend"], data["name"])] = data
    return rows


def idle_rss(out):
    result = {}
    for path in glob.glob(os.path.join(out, "scenarios", "idle-*.json")):
        data = load(path)
        result.setdefault(data["backend"], {})[data["when"]] = {
            "vmrss_mb": data["vmrss_kb"] / 1024,
            "anon_mb": data.get("rss_anon_kb", 0) / 1024,
            "file_mb": data.get("rss_file_kb", 0) / 1024,
            "threads": data.get("threads"),
        }
    return result


def ratio(value, ceiling):
    return value / ceiling if ceiling else None


def build(out):
    params = load(os.path.join(out, "params.json"), {})
    ceilings = load(os.path.join(out, "ceilings.json"), {})
    pgbench = load(os.path.join(out, "postgres", "pgbench.json"), {})
    rows = scenario_rows(out)
    idle = idle_rss(out)
    pg_tps = pgbench.get("tps")

    def adjacent(backend, name, key):
        """The ceiling measured right before the scenario, else the one at the start."""
        value = load(os.path.join(out, backend, f"ceiling-{name}.json"), {}).get(key)
        return value if value else ceilings.get(key)

    adjacent_ceilings = {
        b: {k: load(os.path.join(out, b, f"ceiling-{n}.json"), {}).get(k)
            for n, k in (("verify", "argon2_verify_per_sec"), ("hash", "argon2_hash_per_sec"),
                         ("pictures", "pictures_per_sec"))}
        for b in ("postgres", "sqlite")
    }

    def rps(backend, name):
        row = rows.get((backend, name))
        return row["wrk"]["rps"] if row else None

    scenarios = []
    for (backend, name), row in sorted(rows.items()):
        if row["group"] == "scaling":
            continue
        health = rps(backend, "health")
        verify = adjacent(backend, "verify", "argon2_verify_per_sec")
        hash_rate = adjacent(backend, "hash", "argon2_hash_per_sec")
        pictures = adjacent(backend, "pictures", "pictures_per_sec")
        ceil = []
        if name in ("me", "users_list", "users_filtered"):
            if backend == "postgres" and pg_tps:
                ceil.append({"name": "pgbench -S", "value": pg_tps, "ratio": ratio(row["wrk"]["rps"], pg_tps)})
            if health:
                ceil.append({"name": "/health", "value": health, "ratio": ratio(row["wrk"]["rps"], health)})
            if backend == "postgres" and pg_tps and health:
                series = in_series(health, pg_tps)
                ceil.append({"name": "/health and pgbench -S in series", "value": series,
                             "ratio": ratio(row["wrk"]["rps"], series)})
        elif name in ("login", "mixed_login", "mixed_login_reserved") and verify:
            ceil.append({"name": "argon2id verify", "value": verify, "ratio": ratio(row["wrk"]["rps"], verify)})
        elif name == "register" and hash_rate:
            ceil.append({"name": "argon2id hash", "value": hash_rate, "ratio": ratio(row["wrk"]["rps"], hash_rate)})
        elif name == "picture" and pictures:
            ceil.append({"name": "pipeline alone", "value": pictures, "ratio": ratio(row["wrk"]["rps"], pictures)})
        elif name in ("me_probe_mixed", "me_probe_mixed_reserved"):
            idle_row = rows.get((backend, "me_probe_idle"))
            if idle_row:
                ceil.append({"name": "p99 vs idle probe p99", "value": idle_row["wrk"]["p99_ms"],
                             "ratio": ratio(row["wrk"]["p99_ms"], idle_row["wrk"]["p99_ms"])})
        scenarios.append({
            "backend": backend, "name": name, "group": row["group"],
            "request": f'{row["method"]} {row["path"]}', "concurrency": row["concurrency"],
            "users": row["users"], "rps": row["wrk"]["rps"], "p50_ms": row["wrk"]["p50_ms"],
            "p90_ms": row["wrk"]["p90_ms"], "p99_ms": row["wrk"]["p99_ms"], "max_ms": row["wrk"]["max_ms"],
            "requests": row["wrk"]["requests"], "errors": row["wrk"]["errors"],
            "rss_peak_mb": row["rss_peak_kb"] / 1024, "rss_end_mb": row["rss_end_kb"] / 1024,
            "service_cpu_ms_per_req": row["service_cpu_ms_per_req"],
            "pg_cpu_ms_per_req": row["pg_cpu_ms_per_req"], "machine_busy": row["machine_busy"],
            "ceilings": ceil,
        })

    scaling = []
    for size in params.get("sizes", []):
        lst = rows.get(("postgres", f"scale_{size}_list"))
        flt = rows.get(("postgres", f"scale_{size}_filtered"))
        plans = load(os.path.join(out, "plans", f"postgres-{size}.json"), {})
        entry = {"users": size}
        for key, row in (("list", lst), ("filtered", flt)):
            if row:
                entry[key] = {"rps": row["wrk"]["rps"], "p50_ms": row["wrk"]["p50_ms"],
                              "p99_ms": row["wrk"]["p99_ms"], "errors": row["errors_total"]}
        entry["plans"] = {k: plan_summary(v) for k, v in plans.items()}
        scaling.append(entry)

    # Targets.
    targets = []

    def target(name, wanted, value, met, note=""):
        targets.append({"target": name, "wanted": wanted, "value": value, "met": met, "note": note})

    me = rows.get(("postgres", "me"))
    if me and pg_tps:
        r = me["wrk"]["rps"] / pg_tps
        health = rps("postgres", "health")
        note = ""
        if health:
            bound = in_series(health, pg_tps) / pg_tps
            note = (f"a handler costing nothing would reach {bound:.2f} (/health and pgbench -S in series); "
                    f"measured {r / bound:.2f} of that")
        target("GET /me ≥ 50 % of pgbench -S (same connections)", "≥ 0.50", r, r >= TARGETS["me_vs_pgbench"], note)
    login = rows.get(("postgres", "login"))
    verify = adjacent("postgres", "verify", "argon2_verify_per_sec")
    if login and verify:
        r = login["wrk"]["rps"] / verify
        target("POST /login ≥ 90 % of the Argon2id verify ceiling", "≥ 0.90", r, r >= TARGETS["login_vs_verify"])
    probe_idle = rows.get(("postgres", "me_probe_idle"))
    probe_mixed = rows.get(("postgres", "me_probe_mixed"))
    if probe_idle and probe_mixed:
        r = probe_mixed["wrk"]["p99_ms"] / probe_idle["wrk"]["p99_ms"]
        target("GET /me p99 under login saturation ≤ 3 × idle p99", "≤ 3.0", r, r <= TARGETS["mixed_p99_factor"],
               f'{probe_idle["wrk"]["p99_ms"]:.2f} → {probe_mixed["wrk"]["p99_ms"]:.2f} ms')
    reserved = rows.get(("postgres", "me_probe_mixed_reserved"))
    if probe_idle and reserved:
        r = reserved["wrk"]["p99_ms"] / probe_idle["wrk"]["p99_ms"]
        target("(experiment) same, hashing confined to cores 1..N-1", "≤ 3.0", r, r <= TARGETS["mixed_p99_factor"],
               f'{probe_idle["wrk"]["p99_ms"]:.2f} → {reserved["wrk"]["p99_ms"]:.2f} ms')
    main_size = params.get("main_size", 100000)
    scale_main = next((s for s in scaling if s["users"] == main_size and "filtered" in s), None)
    if scale_main:
        v = scale_main["filtered"]["p99_ms"]
        target(f"filtered listing p99 ≤ 20 ms at {main_size:,} users ({params.get('scale_concurrency')} connections)",
               "≤ 20 ms", v, v <= TARGETS["filtered_p99_ms"])
    for backend in ("postgres", "sqlite"):
        if backend in idle and "start" in idle[backend]:
            v = idle[backend]["start"]["vmrss_mb"]
            target(f"idle RSS ≤ 30 MB ({backend})", "≤ 30 MB", v, v <= TARGETS["idle_rss_mb"])
    peaks = [(s["rss_peak_mb"], s["backend"], s["name"]) for s in scenarios]
    peaks += [(r["rss_peak_kb"] / 1024, r["backend"], r["name"]) for r in rows.values() if r["group"] == "scaling"]
    if peaks:
        v, b, n = max(peaks)
        target("RSS under load ≤ 150 MB (highest peak of any scenario)", "≤ 150 MB", v, v <= TARGETS["load_rss_mb"],
               f"{b} {n}")
    full = [s for s in scaling if "filtered" in s]
    if len(full) >= 2:
        a, b = full[0], full[-1]
        growth = b["filtered"]["p50_ms"] / max(a["filtered"]["p50_ms"], 1e-9)
        size_growth = b["users"] / a["users"]
        target(f"filtered listing grows sub-linearly ({a['users']:,} → {b['users']:,} users, p50)",
               f"< {size_growth:.0f}×", growth, growth < size_growth)

    return {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "params": params,
        "ceilings": {**ceilings, "pgbench_select": pgbench, "adjacent": adjacent_ceilings,
                     "health_rps": {b: rps(b, "health") for b in ("postgres", "sqlite") if rps(b, "health")}},
        "idle_rss_mb": idle,
        "scenarios": scenarios,
        "scaling": scaling,
        "targets": targets,
    }


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if abs(v) >= 1000:
        return f"{v:,.0f}".replace(",", " ")
    return f"{v:.{digits}f}"


LABELS = {
    "health": "GET /health (HTTP ceiling)",
    "me": "1. GET /me",
    "users_list": "2a. GET /users?limit=20",
    "users_filtered": "2b. GET /users?q=kowalski&role=MANAGER&sort=-created_at&limit=20",
    "login": "3. POST /login (password grant)",
    "register": "4. POST /register",
    "picture": "5. PUT /me/picture (2000×1500 JPEG)",
    "me_probe_idle": "6a. GET /me probe, idle",
    "me_probe_mixed": "6b. GET /me probe, logins saturating",
    "mixed_login": "6c. POST /login flood during 6b",
    "me_probe_mixed_reserved": "6d. (experiment) 6b with hashing confined to cores 1..N-1",
    "mixed_login_reserved": "6e. (experiment) POST /login flood during 6d",
}
ORDER = list(LABELS)


def markdown(r):
    p, c, m = r["params"], r["ceilings"], r["machine"]
    lines = [BEGIN, ""]
    lines.append(f"Run of {r['generated']}, built from commit `{p.get('built_commit', m['commit'])}`: {m['cpu']}, {m['cores']} cores, "
                 f"{m['memory_gib']} GiB; {m['postgres']}; {' '.join(m['wrk'])}. "
                 f"{'`--quick`, ' if p.get('quick') else ''}{p.get('duration_s')} s per scenario, "
                 f"{p.get('concurrency')} connections, wrk with {p.get('wrk_threads')} threads, "
                 f"all on the same machine over loopback. Source digest `{p.get('built_from')}`"
                 f"{' (**sources changed during the run**)' if p.get('sources_changed_during_run') else ', unchanged during the run'}.")
    lines += ["", "### Ceilings (same run, same machine)", "",
              "| ceiling | value | how |", "|---|---|---|"]
    pgb = c.get("pgbench_select", {})
    lines.append(f"| PostgreSQL single-row select | {fmt(pgb.get('tps'))} /s | `pgbench -S -M prepared -c {pgb.get('clients')}` on a scale-1 database, right before scenario 1 |")
    for b, v in c.get("health_rps", {}).items():
        lines.append(f"| HTTP stack ({b} run) | {fmt(v)} /s | `GET /health` with wrk, {p.get('concurrency')} connections |")
    def adj(key):
        vals = [f"{b}: {fmt(v.get(key))}" for b, v in c.get("adjacent", {}).items() if v.get(key)]
        return f"; right before the scenario: {', '.join(vals)} /s" if vals else ""
    lines.append(f"| Argon2id verify, all cores | {fmt(c.get('argon2_verify_per_sec'))} /s | production pool (`{c.get('argon2_params')}`, {c.get('cores')} slots); one call {fmt(c.get('argon2_verify_ms_single'))} ms{adj('argon2_verify_per_sec')} |")
    lines.append(f"| Argon2id hash, all cores | {fmt(c.get('argon2_hash_per_sec'))} /s | same pool; one call {fmt(c.get('argon2_hash_ms_single'))} ms{adj('argon2_hash_per_sec')} |")
    pi = c.get("picture_input", {})
    lines.append(f"| picture pipeline, all cores | {fmt(c.get('pictures_per_sec'))} /s | `pipeline::process` on a {pi.get('width')}×{pi.get('height')} JPEG ({fmt(pi.get('bytes', 0) / 1024, 0)} KiB), one thread per core; one call {fmt(c.get('picture_ms_single'))} ms{adj('pictures_per_sec')} |")

    for backend in ("postgres", "sqlite"):
        rows = [s for s in r["scenarios"] if s["backend"] == backend]
        if not rows:
            continue
        rows.sort(key=lambda s: ORDER.index(s["name"]) if s["name"] in ORDER else 99)
        users = rows[0]["users"]
        lines += ["", f"### Scenarios on {'PostgreSQL' if backend == 'postgres' else 'SQLite (embedded default)'}, {users:,} users", "",
                  "| scenario | conns | req/s | p50 ms | p99 ms | errors | peak RSS MB | ratio to ceiling |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in rows:
            errors = sum(s["errors"].values())
            ratios = "; ".join(f"**{x['ratio']:.2f}** × {x['name']} ({fmt(x['value'])}{' ms' if 'p99' in x['name'] else '/s'})"
                               for x in s["ceilings"] if x["ratio"] is not None) or "–"
            if s["name"] == "health":
                ratios = "(is the HTTP ceiling)"
            lines.append(f"| {LABELS.get(s['name'], s['name'])} | {s['concurrency']} | {fmt(s['rps'])} | {fmt(s['p50_ms'], 2)} | "
                         f"{fmt(s['p99_ms'], 2)} | {errors} | {fmt(s['rss_peak_mb'])} | {ratios} |")
        lines += ["", "Where the time goes (CPU per request, from /proc; machine = share of both cores busy, "
                  "load generator included):", "",
                  "| scenario | service CPU ms/req | PostgreSQL CPU ms/req | machine busy |", "|---|---|---|---|"]
        for s in rows:
            pg = fmt(s["pg_cpu_ms_per_req"], 3) if backend == "postgres" else "–"
            lines.append(f"| {LABELS.get(s['name'], s['name'])} | {fmt(s['service_cpu_ms_per_req'], 3)} | {pg} | {s['machine_busy']:.0%} |")

    idle = r["idle_rss_mb"]
    if idle:
        lines += ["", "### Memory (VmRSS; anonymous + file-backed)", "",
                  "| backend | idle after start | idle after the load | highest peak under load |", "|---|---|---|---|"]

        def cell(v):
            if not v:
                return "–"
            return f"{fmt(v['vmrss_mb'])} MB ({fmt(v['anon_mb'])} + {fmt(v['file_mb'])}; {v['threads']} threads)"
        for b, v in sorted(idle.items()):
            peaks = [(s["rss_peak_mb"], s["name"]) for s in r["scenarios"] if s["backend"] == b]
            top = max(peaks) if peaks else None
            lines.append(f"| {b} | {cell(v.get('start'))} | {cell(v.get('after_load'))} | "
                         f"{fmt(top[0]) + ' MB (' + top[1] + ')' if top else '–'} |")

    if r["scaling"]:
        lines += ["", f"### Scaling of `GET /users` on PostgreSQL ({p.get('scale_concurrency')} connections, "
                  f"{p.get('scale_duration_s')} s each)", "",
                  "| users | filtered p50 / p99 ms | filtered req/s | unfiltered p50 / p99 ms | unfiltered req/s | "
                  "SQL ms: filtered count + page | SQL ms: unfiltered count + page | unfiltered count capped at 10 001¹ |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in r["scaling"]:
            f, l, pl = s.get("filtered", {}), s.get("list", {}), s.get("plans", {})

            def ms(key):
                v = (pl.get(key) or {}).get("execution_ms")
                sent = (pl.get(key) or {}).get("sent", True)
                return fmt(v, 2) if sent else f"({fmt(v, 2)})²"
            lines.append(f"| {s['users']:,} | {fmt(f.get('p50_ms'), 2)} / {fmt(f.get('p99_ms'), 2)} | {fmt(f.get('rps'))} | "
                         f"{fmt(l.get('p50_ms'), 2)} / {fmt(l.get('p99_ms'), 2)} | {fmt(l.get('rps'))} | "
                         f"{ms('filtered_count')} + {ms('filtered_page')} | {ms('list_count')} + {ms('list_page')} | "
                         f"{ms('proposed_list_count')} |")
        lines += ["", "¹ A candidate fix, not what the service sends: `SELECT COUNT(*) FROM (SELECT 1 FROM users "
                  "LIMIT 10001)`, i.e. a total shown as “10 000+” beyond that (see the analysis)."]
        if any(not (s.get("plans", {}).get("filtered_count") or {}).get("sent", True) for s in r["scaling"]):
            lines += ["", "² Not sent: the page was shorter than the limit, so it gave the total itself "
                      "(a filtered listing counts only when its page is full); what the count would have cost."]
        last = r["scaling"][-1].get("plans", {})
        if last:
            lines += ["", f"Plans at {r['scaling'][-1]['users']:,} users (`EXPLAIN ANALYZE` of the SQL the service "
                      "sent, read back from `pg_stat_activity`; see `bench/explain.py`):", ""]
            for key in ("filtered_count", "filtered_page", "list_count", "list_page", "email_lookup",
                        "proposed_list_count"):
                pl = last.get(key)
                if pl:
                    unsent = "" if pl.get("sent", True) else ", not sent: the page was short"
                    lines.append(f"- `{key}` ({fmt(pl['execution_ms'], 2)} ms{unsent}): {pl['shape']}")

    lines += ["", "### Targets", "", "| target | wanted | measured | met |", "|---|---|---|---|"]
    for t in r["targets"]:
        v = t["value"]
        unit = " MB" if "MB" in t["wanted"] else (" ms" if "ms" in t["wanted"] else "")
        shown = (f"{v:.2f}" if isinstance(v, float) else str(v)) + unit
        if t["note"]:
            shown += f" ({t['note']})"
        lines.append(f"| {t['target']} | {t['wanted']} | {shown} | {'✅ yes' if t['met'] else '❌ no'} |")
    lines += ["", END]
    return "\n".join(lines)


def main():
    out, results_path, md_path = sys.argv[1:4]
    results = build(out)
    with open(results_path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    generated = markdown(results)
    try:
        with open(md_path) as f:
            text = f.read()
    except OSError:
        text = ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + generated + text[text.index(END) + len(END):]
    else:
        text = "# Benchmark results\n\nProduced by `bash bench/run.sh`; see bench/README.md.\n\n" + generated + "\n"
    with open(md_path, "w") as f:
        f.write(text)
    for t in results["targets"]:
        print(f"{'met ' if t['met'] else 'MISS'}  {t['target']}: {t['value']:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
