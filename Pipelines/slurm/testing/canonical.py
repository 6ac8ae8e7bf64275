#!/usr/bin/env python3
"""Canonical text forms of NoduleKit outputs, so two runs can be compared with diff.

  canonical.py jsonl FILE...   every JSON Lines record, keys sorted, lines sorted
  canonical.py json FILE       one JSON document, keys sorted (list order kept)
  canonical.py store DB        a nodules store, independent of row ids and run identity

The store form is generic over the schema: every table except `runs` (and
migration bookkeeping) is dumped row by row; `id` columns, columns that refer to
`runs`, `run_uuid` and timestamps (`*_at`) are dropped, and every other foreign
key is replaced by the referenced row's own canonical form. So a store built by
merging shard stores equals a single-machine store exactly when they hold the
same images, analyses, detections and errors.
"""
import json
import sqlite3
import sys

SKIP_TABLES = {"runs", "grdb_migrations"}


def dumps(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def jsonl(paths):
    lines = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            lines += [dumps(json.loads(line)) for line in f if line.strip()]
    return sorted(lines)


def store(path):
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            sys.exit(f"{path}: not an SQLite store")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    columns = {t: [r[1] for r in con.execute(f'PRAGMA table_info("{t}")')] for t in tables}
    foreign = {t: {r[3]: (r[2], r[4] or "id") for r in con.execute(f'PRAGMA foreign_key_list("{t}")')}
               for t in tables}
    memo = {}

    def keep(table, column):
        target = foreign[table].get(column)
        return (column != "id" and column != "run_uuid" and not column.endswith("_at")
                and not (target and target[0] in SKIP_TABLES))

    def row(table, where, value):
        key = (table, where, value)
        if key not in memo:
            names = columns[table]
            found = con.execute(f'SELECT * FROM "{table}" WHERE "{where}" = ?', (value,)).fetchone()
            memo[key] = None if found is None else canonical(table, dict(zip(names, found)))
        return memo[key]

    def canonical(table, values):
        out = {}
        for column, value in values.items():
            if not keep(table, column):
                continue
            target = foreign[table].get(column)
            out[column] = row(target[0], target[1], value) if target and value is not None else value
        return out

    lines = []
    for table in tables:
        if table in SKIP_TABLES:
            continue
        names = columns[table]
        rows = [dumps(canonical(table, dict(zip(names, r)))) for r in con.execute(f'SELECT * FROM "{table}"')]
        lines += [f"{table}\t{r}" for r in sorted(rows)]
    return lines


def main(argv):
    if len(argv) >= 3 and argv[1] == "jsonl":
        lines = jsonl(argv[2:])
    elif len(argv) == 3 and argv[1] == "json":
        with open(argv[2], encoding="utf-8") as f:
            lines = [dumps(json.load(f))]
    elif len(argv) == 3 and argv[1] == "store":
        lines = store(argv[2])
    else:
        sys.exit(__doc__)
    sys.stdout.write("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    main(sys.argv)
