#!/usr/bin/env python3
"""EXPLAIN ANALYZE of the SQL the running service sends for the listing.

    python3 bench/explain.py PG_URL BASE_URL ADMIN_TOKEN OUT_JSON LIST_PATH FILTERED_PATH

For each path it makes one request as the admin, reads the page query the
service just ran from pg_stat_activity (the last statement of an idle
backend), derives the count query sea-orm's paginator wraps around the same
select, and explains both with the request's parameter values (PREPARE +
EXPLAIN EXECUTE, so the planner sees bound values as it does for the
service). A filtered listing sends its count only when the page is full
(a short page tells the total itself): the count's plan is marked with
whether the service sent it for this request. Also explains the login
email lookup and a capped count (a candidate fix, not what the service
sends).
"""

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request


def psql(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def explain(url, sql, params):
    """EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of `sql` with `params` bound."""
    args = ", ".join(str(p) if isinstance(p, int) else "'" + p.replace("'", "''") + "'" for p in params)
    script = (f"PREPARE bench_stmt AS {sql};\n"
              f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE bench_stmt{'(' + args + ')' if params else ''};")
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt"], input=script,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def page_query(pg_url, base, token, path):
    """Requests `path`, then returns the ORDER BY query on users a backend just
    ran and the page the service answered."""
    request = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    for _ in range(5):
        with urllib.request.urlopen(request) as response:
            page = json.loads(response.read())
        rows = psql(pg_url, "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                            "AND state = 'idle' AND query LIKE 'SELECT %FROM \"users\"%ORDER BY%' "
                            "ORDER BY state_change DESC LIMIT 1")
        if rows:
            return rows, page
        time.sleep(0.2)
    raise SystemExit(f"could not see the page query of {path} in pg_stat_activity")


def values_for(sql, path):
    """The bound values of `sql`, by what each $n is compared with."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(path).query))
    values = {}
    for match in re.finditer(r'("\w+"(?:\."\w+")?)\s*(=|LIKE|>=|<)\s*\$(\d+)|(LIMIT|OFFSET)\s+\$(\d+)', sql):
        if match.group(4):
            values[int(match.group(5))] = int(query.get("limit", 10)) if match.group(4) == "LIMIT" \
                else int(query.get("skip", 0))
            continue
        column, op, number = match.group(1).split(".")[-1].strip('"'), match.group(2), int(match.group(3))
        if op == "LIKE":
            values[number] = "%" + query["q"].lower() + "%"
        elif column in query:
            values[number] = query[column]
        else:
            raise SystemExit(f"unknown parameter ${number} ({column}) in {sql}")
    count = len(set(re.findall(r"\$(\d+)", sql)))
    return [values[i] for i in range(1, count + 1)]


def main():
    pg_url, base, token, out_path, list_path, filtered_path = sys.argv[1:7]
    result = {}
    for name, path in (("list", list_path), ("filtered", filtered_path)):
        sql, page = page_query(pg_url, base, token, path)
        params = values_for(sql, path)
        result[f"{name}_page"] = explain(pg_url, sql, params)
        result[f"{name}_page"][0]["SQL"] = sql
        # sea-orm's paginator: SELECT COUNT(*) AS num_items FROM (<select>) AS "sub_query".
        inner = re.sub(r"\s+ORDER BY .*$", "", sql, flags=re.S)
        count_sql = f'SELECT COUNT(*) AS num_items FROM ({inner}) AS "sub_query"'
        count_params = params[: len(set(re.findall(r"\$(\d+)", inner)))]
        result[f"{name}_count"] = explain(pg_url, count_sql, count_params)
        # Mirrors Listing::run: unfiltered, always; filtered, unless the first page is short.
        result[f"{name}_count"][0]["Sent"] = name == "list" or len(page["items"]) >= page["size"]
    result["email_lookup"] = explain(
        pg_url, 'SELECT * FROM "users" WHERE "users"."email_norm" = $1 LIMIT $2', ["user4242@bench.example", 1])
    # Candidate fix for the unfiltered total: count at most 10 001 rows ("10 000+").
    result["proposed_list_count"] = explain(
        pg_url, 'SELECT COUNT(*) FROM (SELECT 1 FROM "users" LIMIT $1) AS capped', [10001])
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
