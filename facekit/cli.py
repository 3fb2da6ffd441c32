"""The ``facekit`` command: build the book, check and fetch data, print results, verify, enrol and identify.

Exit codes: 0 success (``verify``: same person; ``identify``: every face known), 1 a negative answer
(``verify``: different people; ``identify``: an unknown face) or a failed check, 2 an error: one line on stderr
naming the file and the fix, never a traceback (``FACEKIT_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import os
import sys

from facekit.profiles import DEFAULT, PROFILES


def _user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that explain themselves to a user: printed as one line, exit 2."""
    from facekit.engines import EngineError
    from facekit.gallery import GalleryError
    from facekit.io import ImageError
    from facekit.profiles import ProfileError
    from facekit.runtime import SettingError
    from facekit.verification import VerifyError
    from facekit.weights import WeightsCorrupt, WeightsMissing

    return (GalleryError, ImageError, VerifyError, WeightsMissing, WeightsCorrupt, ProfileError, EngineError,
            SettingError, KeyError, OSError)


def _error(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr; exit status 2."""
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.filename:
        text = f"{exc.filename}: {exc.strerror or exc}; check that it exists and that you may read and write it"
    else:
        text = str(exc)
    print(f"error: {' '.join(text.split())}", file=sys.stderr)
    return 2


def _cmd_book(args: argparse.Namespace) -> int:
    from facekit.book import BookError, build, check

    if args.check:
        rows = check(args.profile, args.only or None)
        chapter = None
        for r in rows:
            if r["chapter"] != chapter:
                chapter = r["chapter"]
                print(f"{chapter} (profile {args.profile})")
            print(f"  {r['kind']:8s} {r['name']:32s} {r['state']}")
            if r["state"] != "verified":
                print(f"      {r['detail']}")
        bad = [r for r in rows if r["state"] != "verified"]
        print(f"{len(rows) - len(bad)} of {len(rows)} needs verified"
              + (f"; {len(bad)} missing or corrupt" if bad else ""))
        return 1 if bad else 0
    try:
        if args.archive and args.no_html:
            raise BookError("--archive zips the HTML book: drop --no-html")
        build(args.profile, only=args.only or None, html=not args.no_html, keep_going=args.keep_going,
              archive=args.archive, rerun=args.rerun, verbose=args.verbose, jobs=args.jobs)
    except BookError as exc:
        print(f"facekit book: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from facekit.book import BookError, publish

    try:
        out = publish(args.remote, args.branch)
    except BookError as exc:
        print(f"facekit publish: {exc}", file=sys.stderr)
        return 2
    if out:
        print(out)
    print(f"published book/_build/html to {args.remote} {args.branch}")
    return 0


def _cmd_data_status(args: argparse.Namespace) -> int:
    from facekit import paths
    from facekit.data import sources

    print(f"FACEKIT_MIRROR={paths.mirror_dir() or '(none)'}  FACEKIT_DATA={paths.data_dir()}")
    bad = 0
    for st in sources.iter_status(progress=False):
        needed = args.profile in st.dataset.profiles
        where = f" ({st.source})" if st.source else ""
        tag = "" if needed else f"  [{'/'.join(st.dataset.profiles)} profile only]"
        print(f"{st.dataset.name:22s} {st.state}{where}{tag}")
        for c in st.problems:
            if needed or c.state == "corrupt":
                print(f"    {c.state}: {c.location}: {c.detail}")
        if st.state != "verified" and needed:
            bad += 1
            print(f"    -> {sources.how_to_get(st.dataset)}")
    if bad:
        print(f"{bad} dataset(s) needed by profile {args.profile!r} are not verified", file=sys.stderr)
    return 1 if bad else 0


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from facekit.data import sources

    names = args.names or [d.name for d in sources.all_datasets() if args.profile in d.profiles]
    rc = 0
    for name in names:
        try:
            print(f"{name}: {sources.fetch(name, progress=True)}")
        except sources.DataError as exc:
            print(f"facekit data fetch: {exc}", file=sys.stderr)
            rc = 1
    return rc


def _cmd_weights_status(args: argparse.Namespace) -> int:
    from facekit import paths, weights

    print(f"FACEKIT_WEIGHTS={paths.weights_mirror_dir() or '(none)'}")
    rows = weights.status()
    for r in rows:
        print(f"{r['name']:32s} {r['state']:8s} {r['where']}")
    corrupt = [r for r in rows if r["state"] == "corrupt"]
    return 1 if corrupt else 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from facekit.studies.calibration import best_calibrated, verify
    from facekit.verification import VerifyError
    from facekit.weights import WeightsCorrupt, WeightsMissing

    if args.embedder is None:
        args.embedder, why = best_calibrated(args.far, args.profile)
        print(f"embedder: {args.embedder} ({why}; --embedder names another)")
    try:
        r = verify(args.a, args.b, args.embedder, args.far, args.profile)
    except (VerifyError, WeightsMissing, WeightsCorrupt, KeyError) as exc:
        return _error(exc)
    _licence_notes(args.embedder)
    verdict = "same" if r["same"] else "different"
    if r["metric"] == "euclidean":  # the embedder's own unit: a distance, same person below the threshold
        rule = f"distance {-r['score']:.4f} {'<=' if r['same'] else '>'} {-r['threshold']:.4f}"
    else:
        rule = f"cosine similarity {r['score']:.4f} {'>=' if r['same'] else '<'} {r['threshold']:.4f}"
    chosen_by = {"central": "the one nearest the centre", "largest": "the largest", "score": "the most confident"}
    print(f"{verdict}: {rule} ({r['face_path']})")
    pairs = f", {r['pairs']} pairs" if r.get("pairs") else ""
    print(f"threshold: FAR {r['far']:g} on LFW View 2, calibrated by the {r['profile']} build "
          f"({r['calibrated_on']}{pairs})")
    for n, p, box in zip(r["faces_found"], (args.a, args.b), r["boxes"], strict=True):
        if n > 1:
            print(f"{p}: {n} faces, used {chosen_by.get(r['policy'], r['policy'])}, box {box}")
    return 0 if r["same"] else 1


def _licence_notes(embedder: str) -> None:
    """A line for each weights file of ``embedder`` whose licence restricts use (InsightFace's, for one)."""
    from facekit import weights
    from facekit.models.embedders import EMBEDDERS

    for w in EMBEDDERS.weights_of(embedder):
        licence = weights.get_spec(w).licence
        if "non-commercial" in licence.lower():
            print(f"note: {embedder}'s weights ({w}): {licence}")


def _wait(args: argparse.Namespace) -> float | None:
    """--wait: None (fail when busy), SECONDS, or -1 (as long as it takes) when given without a number."""
    return None if args.wait is None else float(args.wait)


def _cmd_enroll(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from facekit import gallery as gal
    from facekit.studies.calibration import best_calibrated, enroll_path, open_set_calibration

    if args.embedder is None:
        args.embedder = gal.embedder_of(args.gallery)  # an existing gallery keeps its own
    if args.embedder is None:
        args.embedder, why = best_calibrated(profile=args.profile, open_set_far=args.far)
        print(f"embedder: {args.embedder} ({why}, with an open-set threshold at FAR {args.far:g}; --embedder names "
              "another)")
    fp = enroll_path(args.embedder)
    _licence_notes(args.embedder)
    # a dry run writes nothing, so it takes no lock (and creates no folder)
    with nullcontext() if args.dry_run else gal.writing(args.gallery, _wait(args), create=True):
        g = gal.open_for_writing(args.gallery, fp)
        if args.threshold is not None:
            threshold = gal.Threshold(args.threshold, "given on the command line")
        else:
            try:
                threshold = open_set_calibration(args.embedder, args.far, args.profile)
            except gal.GalleryError:
                if g.threshold is None:
                    raise
                threshold = g.threshold  # no calibration on this machine: the gallery keeps the one it has
        plan = gal.plan(g, args.folder, sync=args.sync)
        for e in plan.remove:
            print(f"{'would remove' if args.dry_run else 'removing'} {e['file']} ({e['name']}"
                  f"{'; ' + e['why'] if e.get('why') else ', not in ' + str(args.folder)})")
        if args.dry_run:
            counts = {w: sum(1 for *_, why in plan.embed if why == w) for w in ("new", "changed", "repair")}
            print(f"{args.gallery}: would embed {counts['new']} new and {counts['changed']} changed photos, "
                  f"embed {counts['repair']} again, keep {len(plan.keep)}, remove {len(plan.remove)} "
                  "(--dry-run: nothing written)")
            return 0
        report = gal.apply(plan, threshold, progress=not args.quiet)
    print(f"{args.gallery}: {report.people} people, {report.photos} photos; this run: {len(report.embedded)} "
          f"embedded, {len(report.changed)} changed, {report.kept} kept, {len(report.removed)} removed, "
          f"{len(report.skipped)} skipped")
    print(f"threshold: {_threshold_line(threshold, fp.build_embedder().metric)}")
    for what in report.repaired:
        print(f"repaired: {what}")
    for path, why in report.skipped:
        print(f"skipped {path}: {why}")
    return 0


def _threshold_line(t, metric: str) -> str:
    """The threshold in the embedder's unit, where it came from and which build calibrated it."""
    value = f"distance {-t.value:.4f}" if metric == "euclidean" else f"cosine {t.value:.4f}"
    build = f", calibrated by the {t.profile} build" if t.profile else ""
    return f"{value} ({t.source}{build})"


def _cmd_identify(args: argparse.Namespace) -> int:
    from facekit.gallery import Gallery, identify

    gallery = Gallery.load(args.gallery)
    _licence_notes(gallery.face_path.embedder)
    unit = "distance" if gallery.metric == "euclidean" else "cosine"
    if args.threshold is not None:
        print(f"threshold: {unit} {-args.threshold if unit == 'distance' else args.threshold:.4f} (given on the "
              "command line)")
    elif gallery.threshold is not None:
        print(f"threshold: {_threshold_line(gallery.threshold, gallery.metric)}")
    else:
        print("threshold: none (every face is matched to its nearest person)")
    status = 0
    for image in args.images:
        try:
            faces = identify(image, gallery, args.k, args.threshold)
        except _user_errors() as exc:
            _error(exc)
            status = 2
            continue
        if not faces:
            print(f"error: {image}: no face found; use a photo where the face is visible", file=sys.stderr)
            status = 2
        for i, face in enumerate(faces):
            shown = ", ".join(f"{n} {(-s if unit == 'distance' else s):.4f}" for n, s in face.candidates)
            label = face.candidates[0][0] if face.known else "unknown"
            where = f" face {i + 1} of {len(faces)} at {face.box}" if len(faces) > 1 else ""
            print(f"{image}{where}: {label} ({unit}; top-{args.k}: {shown})")
            if not face.known and status == 0:
                status = 1
    for note in gallery.damage:
        print(f"note: {gallery.root}: {note}", file=sys.stderr)
    return status


def _cmd_gallery_list(args: argparse.Namespace) -> int:
    from facekit.gallery import Gallery

    g = Gallery.load(args.gallery, repair=True)  # the list needs only the manifest; damage is said below
    counts = g.counts()
    for name, n in counts.items():
        print(f"{name}\t{n}")
    t = f"; {_threshold_line(g.threshold, g.metric)}" if g.threshold else ""
    print(f"{args.gallery}: {len(counts)} people, {len(g.entries)} photos, {g.face_path.describe()}{t}",
          file=sys.stderr)
    for note in g.damage:
        print(f"note: {g.root}: {note}; `facekit enroll FOLDER --gallery {g.root}` repairs it", file=sys.stderr)
    return 0


def _cmd_gallery_remove(args: argparse.Namespace) -> int:
    from facekit.gallery import remove

    removed = remove(args.gallery, args.people, _wait(args))
    for f in removed:
        print(f"removed {f}")
    print(f"{args.gallery}: {len(args.people)} people, {len(removed)} photos removed")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from facekit.io import ImageError, read_image
    from facekit.keypoint_training import analyze, as_detector, load_rcnn
    from facekit.studies.calibration import best_rcnn_record

    try:
        record = best_rcnn_record(args.profile)
        detector = as_detector(load_rcnn(record), record["model"])
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = {}
    for image in args.images:
        try:
            img = read_image(image)
        except (ImageError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        faces = analyze(img, detector)
        out[image] = faces
        if args.save_overlay:
            import cv2

            canvas = img[:, :, ::-1].copy()
            for f in faces:
                x1, y1, x2, y2 = (int(v) for v in f["box"])
                cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 200, 0), 2)
                for x, y in f["keypoints"]:
                    cv2.circle(canvas, (int(x), int(y)), 2, (0, 0, 255), -1)
                cv2.putText(canvas, f"{f['label']} {f['male_prob']:.2f}", (x1, max(y1 - 4, 10)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 200, 0), 1)
            target = Path(args.save_overlay)
            target.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target / f"{Path(image).stem}_analyzed.png"), canvas)
        if not args.json:
            if not faces:
                print(f"{image}: no face")
            for i, f in enumerate(faces):
                kp = " ".join(f"({x:.0f},{y:.0f})" for x, y in f["keypoints"])
                print(f"{image} face {i + 1} of {len(faces)}: box {f['box']} score {f['score']:.3f} "
                      f"keypoints {kp} label {f['label']} (P(man) {f['male_prob']:.3f})")
    if args.json:
        print(json.dumps({"model": record["model"], "profile": record["profile"], "images": out}, indent=1))
    return 0


def _cmd_check_html(args: argparse.Namespace) -> int:
    from facekit import paths
    from facekit.htmlcheck import check_html, screenshots

    root = args.root or str(paths.book_dir() / "_build" / "html")
    problems = check_html(root)
    shots = screenshots(root) if not args.no_screenshots else None
    problems += shots.problems if shots else []
    for p in problems:
        print(p)
    print(f"{root}: {len(problems)} problem(s)" + (f"; {shots.summary}" if shots else ""))
    return 1 if problems else 0


def _cmd_results(args: argparse.Namespace) -> int:
    import json
    import shutil

    import pandas as pd

    from facekit.results import long_table, read_results, study_tables

    records = read_results(args.profile, args.study)
    if args.json:
        print(json.dumps(records, indent=1))
        return 0
    if not records:
        print("no results yet (run `make book`)")
        return 0
    width = shutil.get_terminal_size((120, 24)).columns
    with pd.option_context("display.max_columns", None, "display.max_colwidth", 48):
        if args.long:
            print(long_table(records).to_string(index=False))
            return 0
        for (profile, study, kind), df in study_tables(records).items():
            print(f"== {study}, {kind} (profile {profile}): {len(df)} records")
            print(df.to_string(index=False, line_width=width))
            print()
    return 0


def _wait_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", nargs="?", type=float, const=-1.0, default=None, metavar="SECONDS",
                   help="when another process is writing to the gallery, wait for it (up to SECONDS) instead of "
                        "stopping with 'gallery busy'")


def parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so tests can inspect it)."""
    p = argparse.ArgumentParser(prog="facekit", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("book", help="execute the notebooks with a profile and build the HTML book")
    b.add_argument("--profile", default=DEFAULT, choices=list(PROFILES))
    b.add_argument("--only", nargs="*", help="chapter names (e.g. 00_data) to execute")
    b.add_argument("--no-html", action="store_true", help="execute only, skip jupyter-book build")
    b.add_argument("--check", action="store_true",
                   help="run nothing: list every dataset and weights file the profile needs, chapter by chapter "
                        "(verified / missing / corrupt, and where to get each); exit 1 if any is not verified")
    b.add_argument("--keep-going", action="store_true",
                   help="a failing chapter is rendered with its error and the others still build; exit 1 at the end")
    b.add_argument("--rerun", action="store_true",
                   help="execute every chapter, even those unchanged since their last successful run")
    b.add_argument("--verbose", action="store_true",
                   help="stream every cell's output to the console (default: a progress line per chapter, the "
                        "kernel's output and native log lines in results/<profile>/logs/<chapter>.log)")
    b.add_argument("--archive", action="store_true",
                   help="also write book/facekit-book-<profile>-<commit>.zip (HTML, results, status page)")
    b.add_argument("--jobs", type=int, default=1,
                   help="run up to this many chapters side by side, each in a process of its own with an equal "
                        "share of the cores, each after the chapters whose records it reads; a chapter that times "
                        "something runs alone (default 1: one after another, every core for each; fewer threads "
                        "train other weights)")
    b.set_defaults(func=_cmd_book)

    pb = sub.add_parser("publish", help="push the built HTML book to a gh-pages branch (ghp-import); exit 2 on error")
    pb.add_argument("--remote", default="origin", help="git remote name or URL (default origin)")
    pb.add_argument("--branch", default="gh-pages")
    pb.set_defaults(func=_cmd_publish)

    h = sub.add_parser("check-html", help="check the built book: links, images, no tracebacks, screenshots when "
                                          "a Chromium is installed; exit 1 on a problem")
    h.add_argument("root", nargs="?", default=None, help="the HTML folder (default book/_build/html)")
    h.add_argument("--no-screenshots", action="store_true")
    h.set_defaults(func=_cmd_check_html)

    d = sub.add_parser("data", help="dataset status and fetching (mirror or official URL)")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("status", help="verified / missing / corrupt for every dataset")
    s.add_argument("--profile", default=DEFAULT, choices=list(PROFILES),
                   help="datasets this profile needs decide the exit status")
    s.set_defaults(func=_cmd_data_status)
    f = dsub.add_parser("fetch", help="copy from the mirror or download, verifying sha256")
    f.add_argument("names", nargs="*", help="dataset names (default: all needed by --profile)")
    f.add_argument("--profile", default=DEFAULT, choices=list(PROFILES))
    f.set_defaults(func=_cmd_data_fetch)

    w = sub.add_parser("weights", help="model weights: where each file is, or what is missing")
    wsub = w.add_subparsers(dest="weights_command", required=True)
    ws = wsub.add_parser("status", help="ok / missing / corrupt for every registered weights file")
    ws.set_defaults(func=_cmd_weights_status)

    v = sub.add_parser("verify", help="same person? exit 0 same, 1 different, 2 error")
    v.add_argument("a")
    v.add_argument("b")
    v.add_argument("--embedder", default=None, help="default: the calibrated embedder with the best TPR at --far")
    v.add_argument("--far", type=float, default=1e-3, help="false accept rate the threshold was calibrated at")
    v.add_argument("--profile", default=None, choices=list(PROFILES),
                   help="whose calibration (default: full, then cpu; smoke only when named)")
    v.set_defaults(func=_cmd_verify)

    e = sub.add_parser("enroll", help="add the photos of a folder of people (one sub-folder each) to a gallery: new "
                                      "or changed photos are embedded, the others kept; exit 0, or 2 on an error",
                       description="Adds by default: people enrolled from other folders stay. --sync makes the "
                                   "gallery mirror this folder, listing every photo it removes. One enrolment "
                                   "writes to a gallery at a time; a damaged gallery is repaired where it can be.")
    e.add_argument("folder")
    e.add_argument("--gallery", required=True, help="gallery folder (created if absent)")
    e.add_argument("--embedder", default=None, help="default: the calibrated embedder with the best TPR at FAR "
                   "1e-3 among those with an open-set threshold at --far")
    e.add_argument("--far", type=float, default=0.01, help="open-set false-alarm rate of the 'unknown' threshold")
    e.add_argument("--threshold", type=float, default=None, help="the threshold itself (instead of the chapter's)")
    e.add_argument("--profile", default=None, choices=list(PROFILES),
                   help="whose calibration (default: full, then cpu; smoke only when named)")
    e.add_argument("--sync", action="store_true", help="also remove the photos that are not in FOLDER")
    e.add_argument("--dry-run", action="store_true", help="say what would be embedded and removed; write nothing")
    _wait_option(e)
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=_cmd_enroll)
    i = sub.add_parser("identify", help="who is in each photo? exit 0 all known, 1 one unknown, 2 error")
    i.add_argument("images", nargs="+")
    i.add_argument("--gallery", required=True)
    i.add_argument("--k", type=int, default=5)
    i.add_argument("--threshold", type=float, default=None, help="override the gallery's open-set threshold")
    i.set_defaults(func=_cmd_identify)

    g = sub.add_parser("gallery", help="list or remove the people of a gallery")
    gsub = g.add_subparsers(dest="gallery_command", required=True)
    gl = gsub.add_parser("list", help="each person and their number of photos (tab-separated)")
    gl.add_argument("--gallery", required=True)
    gl.set_defaults(func=_cmd_gallery_list)
    gr = gsub.add_parser("remove", help="remove every photo of these people")
    gr.add_argument("people", nargs="+")
    gr.add_argument("--gallery", required=True)
    _wait_option(gr)
    gr.set_defaults(func=_cmd_gallery_remove)

    a = sub.add_parser("analyze", help="each face's box, 5 keypoints and binary gender label with its probability, "
                                       "from the best Keypoint R-CNN the book trained; exit 2 on unreadable input",
                       description="'Gender' is the binary label of the training data (LFW's gender lists), a "
                                   "property of a photo's annotation, not a person's gender identity.")
    a.add_argument("images", nargs="+")
    a.add_argument("--json", action="store_true", help="one JSON document instead of text")
    a.add_argument("--save-overlay", metavar="DIR", help="write each image with boxes, keypoints and labels here")
    a.add_argument("--profile", default=None, choices=list(PROFILES),
                   help="whose model (default: full, then cpu; smoke only when named)")
    a.set_defaults(func=_cmd_analyze)

    r = sub.add_parser("results", help="print results records: a table per study and kind of record, each with its "
                                        "own columns, wrapped to the terminal")
    r.add_argument("--profile", default=None)
    r.add_argument("--study", default=None)
    r.add_argument("--long", action="store_true", help="one row per number: profile, study, name, metric, value")
    r.add_argument("--json", action="store_true", help="the records themselves, as one JSON list (for scripts)")
    r.set_defaults(func=_cmd_results)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``facekit`` console script."""
    args = parser().parse_args(argv)
    if os.environ.get("FACEKIT_DEBUG"):
        return int(args.func(args) or 0)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as exc:
        return _error(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, with how to see the traceback
        print(f"error: facekit {args.command} failed unexpectedly ({type(exc).__name__}: {exc}); rerun with "
              "FACEKIT_DEBUG=1 for the traceback and report it", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
