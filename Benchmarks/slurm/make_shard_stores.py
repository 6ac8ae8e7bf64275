#!/usr/bin/env python3
"""Synthesise N shard stores of M images each from one real `nodules batch` store.

  make_shard_stores.py SEED.sqlite OUTDIR N M

Each shard store is a copy of SEED's schema (VACUUM INTO, then emptied) filled
with M images whose rows (image, analysis, detections with their features) are
copied from SEED's images in turn, under new paths and content hashes: two
studies per patient, one run per shard. So the merge benchmark sees the row
counts and row sizes of real results (the detection count per image is the
seed's) without detecting N × M images first. Only merge cost is measured on
these stores; they are not valid results.
"""
import hashlib
import os
import sqlite3
import sys
import uuid


def rows(con, sql, *args):
    cur = con.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def insert(con, table, values):
    cols = [c for c in values if c != "id"]
    sql = f'INSERT INTO {table} ({",".join(cols)}) VALUES ({",".join("?" * len(cols))})'
    return con.execute(sql, [values[c] for c in cols]).lastrowid


def main(seed_path, out_dir, shards, per_shard):
    os.makedirs(out_dir, exist_ok=True)
    seed = sqlite3.connect(f"file:{seed_path}?mode=ro", uri=True)
    analyses = rows(seed, "SELECT * FROM analyses ORDER BY id")
    assert analyses, "the seed store holds no analyses"
    images = {r["id"]: r for r in rows(seed, "SELECT * FROM images")}
    detections = {a["id"]: rows(seed, "SELECT * FROM detections WHERE analysis = ? ORDER BY rank", a["id"])
                  for a in analyses}
    run = rows(seed, "SELECT * FROM runs ORDER BY id LIMIT 1")[0]
    for k in range(shards):
        path = os.path.join(out_dir, f"shard-{k}.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        seed.execute("VACUUM INTO ?", (path,))
        con = sqlite3.connect(path)
        con.execute("PRAGMA foreign_keys = OFF")
        for table in ("detections", "image_errors", "analyses", "images", "studies", "patients", "runs"):
            con.execute(f"DELETE FROM {table}")
        run_id = insert(con, "runs", dict(run, uuid=str(uuid.uuid4()), shard=f"{k}/{shards}"))
        patient = study = None
        for i in range(per_shard):
            if i % 2 == 0:
                patient = insert(con, "patients", {"issuer": "", "patient_id": f"P{k:04d}-{i // 2:07d}"})
            study = insert(con, "studies", {"patient": patient, "study_date": f"2026-0{1 + 4 * (i % 2)}-12"})
            a = analyses[i % len(analyses)]
            image_path = f"/archive/P{k:04d}-{i // 2:07d}/2026-0{1 + 4 * (i % 2)}-12/pa.png"
            image = dict(images[a["image"]], path=image_path,
                         sha256=hashlib.sha256(image_path.encode()).hexdigest(), study=study)
            image_id = insert(con, "images", image)
            analysis_id = insert(con, "analyses", dict(a, image=image_id, run=run_id, run_uuid=None))
            for d in detections[a["id"]]:
                insert(con, "detections", dict(d, analysis=analysis_id, image=image_id, run=run_id))
        con.commit()
        con.execute("PRAGMA journal_mode = DELETE")
        con.close()
    print(f"{shards} stores of {per_shard} images in {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
