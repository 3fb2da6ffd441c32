"""Compare the metrics of two results folders record by record: a refactoring (or a faster engine) must leave
every number where it was. Prints each metric that differs, each record found on one side only, and a summary;
exits 1 when anything differs, and 2 with one line when a folder or a record cannot be read.

Timings are not compared (they are measurements of the machine, not results): a record's ``timings`` and the
metrics whose names say they measure time (``TIME_METRICS``); ``--ignore`` drops more metric names (a glob),
``--rel`` allows a relative tolerance (default: exact); ``--records`` limits the comparison to the records whose
``study/name`` matches a glob (the rows whose recipe a change left alone, say ``'06_*/scheduled-decay*'``).

``--tables`` compares the chapters' CSV tables too (per-image detections, extraction logs, grids), cell for cell as
written: each side's checkout path is replaced by ``<root>`` (the tables name image files by absolute path) and
the time columns (``TIME_COLUMNS``) and ``--ignore``'s are dropped; ``--records`` globs apply to
``study/<file name without .csv>``.

Run: ``.venv/bin/python benchmarks/compare_results.py OLD_RESULTS NEW_RESULTS [--profile cpu] [--rel 1e-9]
[--records GLOB ...] [--tables]``
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import sys
from pathlib import Path

#: metric names that measure the machine's speed, not a result (globs)
TIME_METRICS = ("*seconds*", "*_ms", "*ms_per_*", "*per_second*")
#: table columns that measure the machine's speed (globs), besides the metric names: "build s", "ms per query",
#: "queries per s", and search.py's speed ratio of two engines
TIME_COLUMNS = (*TIME_METRICS, "* s", "*ms per *", "*per s", "numpy / faiss")


class ResultsError(ValueError):
    """A results folder or record that cannot be read (one line: the path and the fix; exit 2)."""


def records(root: Path, profile: str, only: tuple[str, ...] = ()) -> dict[tuple[str, str], dict]:
    """(study, name) -> metrics of every record under ``root/profile`` (of those whose ``study/name`` matches a
    glob of ``only``, when given)."""
    if not (root / profile).is_dir():
        raise ResultsError(f"{root / profile}: no such results folder: name a results root that holds a "
                           f"'{profile}' folder (or pass --profile)")
    out = {}
    for path in sorted((root / profile).glob("*/*.json")):
        try:
            rec = json.loads(path.read_text())
            rec["study"], rec["name"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ResultsError(f"{path}: not a results record ({type(exc).__name__}): rebuild its chapter or "
                               "remove the file") from None
        if only and not any(fnmatch.fnmatch(f"{rec['study']}/{rec['name']}", pat) for pat in only):
            continue
        out[rec["study"], rec["name"]] = rec.get("metrics", {})
    return out


def differs(a, b, rel: float) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if math.isnan(a) and math.isnan(b):
            return False
        return not math.isclose(a, b, rel_tol=rel, abs_tol=0.0)
    return a != b


def compare(old: Path, new: Path, profile: str, rel: float = 0.0, ignore: tuple[str, ...] = (),
            only: tuple[str, ...] = ()) -> list[str]:
    """One line per difference (empty when the two folders agree), over the records ``only`` names (all: empty)."""
    a, b = records(old, profile, only), records(new, profile, only)
    lines = [f"only in {old}: {s}/{n}" for s, n in sorted(set(a) - set(b))]
    lines += [f"only in {new}: {s}/{n}" for s, n in sorted(set(b) - set(a))]
    for key in sorted(set(a) & set(b)):
        ma, mb = a[key], b[key]
        for m in sorted(set(ma) | set(mb)):
            if any(fnmatch.fnmatch(m, pat) for pat in (*TIME_METRICS, *ignore)):
                continue
            if m not in ma or m not in mb:
                lines.append(f"{key[0]}/{key[1]}: {m} only in {'new' if m in mb else 'old'}")
            elif differs(ma[m], mb[m], rel):
                lines.append(f"{key[0]}/{key[1]}: {m} {ma[m]!r} -> {mb[m]!r}")
    return lines


def tables(root: Path, profile: str, only: tuple[str, ...] = ()) -> dict[str, Path]:
    """``study/file.csv`` -> path of every CSV table under ``root/profile`` (those ``only`` names, when given)."""
    if not (root / profile).is_dir():
        raise ResultsError(f"{root / profile}: no such results folder: name a results root that holds a "
                           f"'{profile}' folder (or pass --profile)")
    return {f"{p.parent.name}/{p.name}": p for p in sorted((root / profile).glob("*/*.csv"))
            if not only or any(fnmatch.fnmatch(f"{p.parent.name}/{p.stem}", pat) for pat in only)}


def _read_table(path: Path, root: Path, ignore: tuple[str, ...] = ()):
    """A table as strings, its checkout's path replaced by ``<root>``, its time columns and ``ignore``'s dropped."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: not a readable CSV table ({type(exc).__name__}): rebuild its chapter or "
                           "remove the file") from None
    df = df[[c for c in df.columns if not any(fnmatch.fnmatch(c, pat) for pat in (*TIME_COLUMNS, *ignore))]]
    prefixes = {str(root.absolute().parent) + "/", str(root.resolve().parent) + "/"}  # a linked clone: both
    for prefix in sorted(prefixes, key=len, reverse=True):
        df = df.apply(lambda col, prefix=prefix: col.str.replace(prefix, "<root>/", regex=False))
    return df


def compare_tables(old: Path, new: Path, profile: str, only: tuple[str, ...] = (),
                   ignore: tuple[str, ...] = ()) -> list[str]:
    """One line per table that differs (empty when all agree): on one side only, other columns, other row counts,
    or the number of differing cells with the first of them."""
    a, b = tables(old, profile, only), tables(new, profile, only)
    lines = [f"only in {old}: {k}" for k in sorted(set(a) - set(b))]
    lines += [f"only in {new}: {k}" for k in sorted(set(b) - set(a))]
    for key in sorted(set(a) & set(b)):
        x, y = _read_table(a[key], old, ignore), _read_table(b[key], new, ignore)
        if list(x.columns) != list(y.columns):
            lines.append(f"{key}: columns {sorted(set(x.columns) ^ set(y.columns))} on one side only"
                         if set(x.columns) != set(y.columns) else f"{key}: columns in another order")
        elif len(x) != len(y):
            lines.append(f"{key}: {len(x)} rows -> {len(y)}")
        else:
            cells = (x.to_numpy() != y.to_numpy()).nonzero()
            if len(cells[0]):
                i, j = cells[0][0], cells[1][0]
                lines.append(f"{key}: {len(cells[0])} cell(s) differ, first row {i} column {x.columns[j]}: "
                             f"{x.iat[i, j]!r} -> {y.iat[i, j]!r}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--rel", type=float, default=0.0, help="relative tolerance (default 0: exact)")
    ap.add_argument("--ignore", nargs="*", default=(), help="metric names and table columns (globs) not compared")
    ap.add_argument("--records", nargs="*", default=(), help="compare only these records: globs of study/name")
    ap.add_argument("--tables", action="store_true", help="compare the CSV tables too, cell for cell")
    args = ap.parse_args()
    only = tuple(args.records)
    try:
        lines = compare(args.old, args.new, args.profile, args.rel, tuple(args.ignore), only)
        n_old, n_new = len(records(args.old, args.profile, only)), len(records(args.new, args.profile, only))
        what = f"{n_old} records in {args.old}, {n_new} in {args.new}"
        if args.tables:
            lines += compare_tables(args.old, args.new, args.profile, only, tuple(args.ignore))
            n_old, n_new = (len(tables(root, args.profile, only)) for root in (args.old, args.new))
            what += f"; {n_old} and {n_new} tables"
    except ResultsError as exc:
        print(f"compare_results: {exc}", file=sys.stderr)
        return 2
    return report(lines, f"{what} (profile {args.profile})")


def report(lines: list[str], what: str) -> int:
    """Print each difference and a summary line about ``what``; the exit status (0 equal, 1 a difference)."""
    for line in lines:
        print(line)
    print(f"{what}: " + ("every metric equal" if not lines else f"{len(lines)} difference(s)"))
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
