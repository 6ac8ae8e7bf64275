#!/usr/bin/env python3
"""Scores `nodules track --format json` against a phantom series' truth.json.

Usage: score_tracks.py TRUTH.json TRACKS.json [--markdown | --summary]

Definitions (documented in the README's tracking section):
- hit: an observation whose centre, in the exam's own mm (from the image corner),
  lies within max(true radius, 4 mm) of the true centre; the nearest one counts.
- an identity (patient, truth nodule id) is *detected* when it has a hit on every
  exam it is present on, and *linked* when those hits are all on one track that
  holds no hit of another identity.
- registration error: the largest distance, over a 10 mm grid of the whole exam
  image, between where the estimated and the true transform put a point in the
  reference exam (mm).
- VDT error: |ln(estimated / true)| for linked identities that truly grow (positive
  true VDT) with a stated VDT (infinite when a halving time was stated instead).
- expected status: new when the identity is on the patient's latest exam only
  (nothing to compare; the tracker's rule for a one-observation track on the
  latest exam); otherwise growing when the true volume change first → last exam
  is at least 25 %, shrinking when the volume falls by as much in log terms
  (V_last/V_first ≤ 0.8, the tracker's rule), stable otherwise. Our generator
  makes no shrinking nodules; the other generators' series (Data/phantom-b,
  Data/phantom-c) do. A track whose change is within measurement
  error may honestly say indeterminate: the summary counts those apart.
- --summary prints one line per figure the README quotes (linked, status,
  VDT error, registration), computed here rather than by hand.
Python here is tooling for measuring, never part of the product.
"""
import json
import math
import statistics
import sys


def identities(images, out):
    """The hit rule for one patient: `images` its truth images in date order, `out` its entry of
    `nodules track --format json`. Returns, per truth nodule id, its truth `status` and `vdt`,
    `exams` as (study date, true diameter, hit) in date order, where a hit is the nearest
    observation within max(true radius, 4 mm) of the true centre as (track index, date, x_mm,
    y_mm, diameter_mm, diameter_sd_mm) or None; `detected` (a hit on every exam) and `linked`
    (detected, all hits on one track, and that track holds no hit of another id)."""
    obs = [(k, o["study_date"], o["x_mm"], o["y_mm"], o["diameter_mm"], o.get("diameter_sd_mm"))
           for k, t in enumerate(out["tracks"]) for o in t["observations"]]
    ids = {}
    for im in images:
        sp = im["pixel_spacing_mm"]
        for n in im["nodules"]:
            tx, ty = (n["x"] + 0.5) * sp, (n["y"] + 0.5) * sp
            gate = max(n["diameter_mm"] / 2, 4.0)
            cands = [(math.hypot(o[2] - tx, o[3] - ty), o) for o in obs if o[1] == im["study_date"]]
            cands = [c for c in cands if c[0] <= gate]
            hit = min(cands)[1] if cands else None
            ids.setdefault(n["id"], {"status": n["status"], "vdt": n["vdt_days"], "exams": []})
            ids[n["id"]]["exams"].append((im["study_date"], n["diameter_mm"], hit))
    track_owner = {}
    for nid, v in ids.items():
        for _, _, hit in v["exams"]:
            if hit:
                track_owner.setdefault(hit[0], set()).add(nid)
    for nid, v in ids.items():
        hits = [h for _, _, h in v["exams"]]
        track_ids = {h[0] for h in hits if h}
        v["detected"] = all(hits)
        v["linked"] = v["detected"] and len(track_ids) == 1 and track_owner[next(iter(track_ids))] == {nid}
    return ids


def linked_identities(truth, by_patient):
    """Yields (images, identity, track) for every identity of `identities` linked in one track: `truth` a
    series' truth.json, `by_patient` its `nodules track --format json` entries by patient ID."""
    for pid in sorted({i["patient_id"] for i in truth["images"]}):
        if pid not in by_patient:
            continue
        images = sorted((i for i in truth["images"] if i["patient_id"] == pid), key=lambda i: i["study_date"])
        for v in identities(images, by_patient[pid]).values():
            if v["linked"]:
                yield images, v, by_patient[pid]["tracks"][v["exams"][0][2][0]]


def expected_status(v, images):
    """The status the tracker should give identity `v` of `identities(images, ...)` (module docstring)."""
    true_change = 3 * math.log(v["exams"][-1][1] / v["exams"][0][1])
    if len(v["exams"]) == 1 and v["exams"][0][0] == images[-1]["study_date"]:
        return "new"
    return ("growing" if true_change >= math.log(1.25)
            else "shrinking" if true_change <= -math.log(1.25) else "stable")


def main(truth_path, tracks_path, markdown=False, summary=False):
    truth = json.load(open(truth_path))
    tracks = json.load(open(tracks_path))
    by_patient = {p["patient_id"]: p for p in tracks}
    rows, reg_rows = [], []
    patients = sorted({i["patient_id"] for i in truth["images"]})
    for pid in patients:
        images = sorted([i for i in truth["images"] if i["patient_id"] == pid], key=lambda i: i["study_date"])
        out = by_patient.get(pid)
        if out is None:
            continue
        exam_by_date = {e["study_date"]: e for e in out["exams"]}
        # Registration error per exam.
        ref = images[0]
        for im in images[1:]:
            e = exam_by_date.get(im["study_date"])
            r = e["registration"]
            th = math.radians(r["rotation_deg"]); s = r["scale"]
            a, b = s * math.cos(th), s * math.sin(th)
            M = im["transform_to_reference"]["pixel_affine"]
            sp, spr = im["pixel_spacing_mm"], ref["pixel_spacing_mm"]
            worst = 0.0
            step = max(1, int(10 / sp))
            for row in range(0, im["height"], step):
                for col in range(0, im["width"], step):
                    cr = M[0][0] * col + M[0][1] * row + M[0][2]
                    rr = M[1][0] * col + M[1][1] * row + M[1][2]
                    tx, ty = (cr + 0.5) * spr, (rr + 0.5) * spr
                    x, y = (col + 0.5) * sp, (row + 0.5) * sp
                    ex, ey = a * x - b * y + r["translation_x_mm"], b * x + a * y + r["translation_y_mm"]
                    worst = max(worst, math.hypot(ex - tx, ey - ty))
            reg_rows.append((pid, im["study_date"], r["reliable"], r["quality"], worst))
        ids = identities(images, out)
        for nid, v in sorted(ids.items()):
            hits = [h for _, _, h in v["exams"]]
            detected, linked = v["detected"], v["linked"]
            expected = expected_status(v, images)
            t = out["tracks"][hits[0][0]] if linked else None
            est = t["doubling_time_days"] if t else None
            # Scored for nodules that truly grow (a positive true VDT); a halving time (negative)
            # stated for one is wrong by any measure. Shrinking truths are not scored here.
            err = ((abs(math.log(est / v["vdt"])) if est > 0 else math.inf)
                   if (est and v["vdt"] and v["vdt"] > 0) else None)
            measured = ", ".join(f"{h[4]:.1f}" if h else "–" for h in hits)
            true_d = ", ".join(f"{d:.1f}" for _, d, _ in v["exams"])
            rows.append((pid, nid, v["status"], len(v["exams"]), true_d, measured, detected, linked,
                         t["status"] if t else None, expected, v["vdt"], est, err))
    if summary:
        linked = [r for r in rows if r[7]]
        right = [r for r in linked if r[8] == r[9]]
        honest = [r for r in linked if r[8] == "indeterminate" and r[9] != "indeterminate"]
        errors = sorted(r[12] for r in rows if r[12] is not None)
        median = statistics.median(errors) if errors else None
        within = sum(1 for e in errors if e <= math.log(1.25))
        print(f"identities {len(rows)}; detected on every exam {sum(1 for r in rows if r[6])}; linked in one track {len(linked)}")
        print(f"status right {len(right)} of {len(linked)} linked; indeterminate where another was expected {len(honest)}; "
              f"other wrong {len(linked) - len(right) - len(honest)}")
        print(f"VDT stated for {len(errors)} linked growing identities: median |ln(VDT/true)| "
              f"{'–' if median is None else f'{median:.2f}'}; within ±25 % (|ln| ≤ ln 1.25) {within} of {len(errors)}")
        worst = sorted(r[4] for r in reg_rows)
        print(f"registration: {sum(1 for r in reg_rows if r[2])} of {len(reg_rows)} reliable; worst-point error median "
              f"{statistics.median(worst):.1f} mm, max {worst[-1]:.1f} mm" if worst else "registration: no later exams")
    elif markdown:
        print("| patient | nodule | truth | exams | true D (mm) | measured D (mm) | hit on every exam | linked in one track | status | expected | true VDT (d) | VDT (d) | abs ln ratio |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            f = lambda x, d=1: "–" if x is None else (f"{x:.{d}f}" if isinstance(x, float) else str(x))
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {'yes' if r[6] else 'no'} | {'yes' if r[7] else 'no'} | {f(r[8])} | {r[9]} | {f(r[10])} | {f(r[11])} | {f(r[12], 2)} |")
        print()
        print("| patient | exam | registration reliable | quality | max error over the image (mm) |")
        print("| --- | --- | --- | --- | --- |")
        for r in reg_rows:
            print(f"| {r[0]} | {r[1]} | {'yes' if r[2] else 'no'} | {r[3]:.3f} | {r[4]:.2f} |")
    else:
        json.dump({"identities": [dict(zip(["patient", "id", "truth_status", "exams", "true_d", "measured_d", "detected", "linked",
                                            "status", "expected", "true_vdt", "vdt", "abs_ln_ratio"], r)) for r in rows],
                   "registration": [dict(zip(["patient", "date", "reliable", "quality", "max_error_mm"], r)) for r in reg_rows]},
                  sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0], args[1], markdown="--markdown" in sys.argv, summary="--summary" in sys.argv)
