"""The book's status page (``book/status.md``): how each chapter's latest run went (wall time, device and
processor, peak memory), the package versions, git commit and checksums of the data and weights the records used,
and what the full profile would add. Built from the run log ``facekit book`` keeps and from the results records'
manifests."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

from facekit import paths, runlog, tally
from facekit.results import git_commit, read_results, versions
from facekit.store import atomic_write_text


def _md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_(none)_\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")).replace("|", "\\|").replace("\n", " ") for c in cols)
                     + " |")
    return "\n".join(lines) + "\n"


def _share(x: float | None) -> str:
    return "not sampled" if x is None else f"{x:.0%}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _machines(entries: list[dict[str, Any]]) -> str:
    """Which processor the runs summed were measured on; several kinds are said, since their minutes do not add
    up to one machine's build."""
    kinds = sorted({e.get("processor", "a processor not logged") for e in entries})
    if len(kinds) <= 1:
        return f", on {kinds[0]}" if kinds else ""
    return (f", on {len(kinds)} kinds of processor ({'; '.join(kinds)}): minutes measured on different machines "
            "do not add up to one machine's build")


def chapter_rows(profile: str, chapters: list[str], reused: set[str] = frozenset()) -> list[dict[str, Any]]:
    """Per chapter: in this build executed or reused, the latest run (wall and CPU time, core utilisation,
    detections / crops / embeddings computed vs read, outcome, peak memory, device, processor, commit) and the
    longest run logged."""
    runs = runlog.read(profile)
    devices: dict[str, set[str]] = defaultdict(set)
    for rec in read_results(profile):
        dev = (rec.get("manifest") or {}).get("device")
        if dev:
            devices[rec["study"]].add(dev)
    rows = []
    for ch in chapters:
        mine = [r for r in runs if r["chapter"] == ch]
        if not mine:
            rows.append({"chapter": ch, "this build": "", "latest run (UTC)": "not run with this profile",
                         "wall time": "", "CPU time": "", "core utilisation": "", "computed / read": "",
                         "outcome": "", "peak memory": "",
                         "device": "", "processor": "", "longest run logged": "", "commit": ""})
            continue
        last, longest = mine[-1], max(mine, key=lambda r: r["seconds"])
        rows.append({
            "chapter": ch, "this build": "reused (unchanged)" if ch in reused else "executed",
            "latest run (UTC)": last["started"][:16].replace("T", " "),
            "wall time": _minutes(last["seconds"]),
            "CPU time": _minutes(last["cpu_seconds"]) if last.get("cpu_seconds") is not None else "not sampled",
            "core utilisation": _share(runlog.utilisation([last])),
            "computed / read": tally.describe(last["work"]) if last.get("work") else "not counted",
            "outcome": "ok" if last["ok"] else "FAILED",
            "peak memory": f"{last['peak_mb'] / 1024:.1f} GiB",
            "device": ", ".join(sorted(devices.get(ch, ()))) or last.get("device", ""),
            "processor": last.get("processor", "not logged"),
            "longest run logged": f"{_minutes(longest['seconds'])} ({longest['started'][:10]})",
            "commit": str(last.get("git", ""))[:12]})
    return rows


def checksum_rows(profile: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The sha256 of every data file and weights file named in the profile's records, with the chapters using it."""
    data: dict[tuple[str, str], set[str]] = defaultdict(set)
    wts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rec in read_results(profile):
        man = rec.get("manifest") or {}
        for name, sha in (man.get("data_sha256") or {}).items():
            data[(name, sha)].add(rec["study"])
        for name, sha in (man.get("weights_sha256") or {}).items():
            wts[(name, sha)].add(rec["study"])

    def rows(d: dict[tuple[str, str], set[str]], label: str) -> list[dict[str, str]]:
        return [{label: name, "sha256": f"`{sha}`", "chapters": ", ".join(sorted(chs))}
                for (name, sha), chs in sorted(d.items())]

    return rows(data, "data file"), rows(wts, "weights")


def full_profile_rows(chapters: list[str], profile: str) -> list[dict[str, str]]:
    """Per chapter, each parameter whose full-profile value differs from ``profile``'s, and the needs of the full
    profile that are not on this machine."""
    from facekit import studies
    from facekit.studies.kit import check

    rows = []
    for ch in chapters:
        try:
            mod = studies.chapter(ch)
        except KeyError:
            continue
        if profile != "full":
            here, full = dataclasses.asdict(mod.params(profile)), dataclasses.asdict(mod.params("full"))
            changed = [f"`{k}`: {here[k]!r} -> {full[k]!r}" for k in full if here.get(k) != full[k]]
        else:
            changed = []
        missing = [f"{n.kind} `{n.name}`" for n in mod.needs("full") if check(n).state != "verified"]
        rows.append({"chapter": ch, "parameters that change": "; ".join(changed) or "none",
                     "full-profile needs missing here": ", ".join(missing) or "none"})
    return rows


def write_status_page(profile: str, names: list[str], out: Path | None = None,
                      reused: set[str] = frozenset()) -> Path:
    """Write ``book/status.md`` for ``profile`` and the chapters ``names`` (book order) from the run log and the
    records (never typed numbers); ``reused`` names the chapters this build did not execute because nothing they
    depend on changed."""
    rows = chapter_rows(profile, names, reused)
    data_rows, weight_rows = checksum_rows(profile)
    latest = [r for r in {r["chapter"]: r for r in runlog.read(profile)}.values() if r["chapter"] in names]
    total, whole = sum(r["seconds"] for r in latest), runlog.utilisation(latest)
    vers = versions()
    parts = [
        "# Build status\n",
        f"This page is written by `facekit book` for the profile **`{profile}`** from its run log "
        f"(`results/{profile}/book-runs.jsonl`) and the manifests of the results records. Commit of this build: "
        f"`{git_commit()}`.\n",
        "## Chapters\n",
        "Wall time is the chapter's latest execution (a warm run reuses detection, embedding and checkpoint caches, "
        "a cold one computes them); the longest run logged is usually the cold one. A chapter whose code, "
        "notebooks, pins, profile and device did not change since that execution is *reused* by a build, not "
        "executed again (`facekit book --rerun` executes every chapter). Peak memory is the largest resident set "
        "of the chapter's kernel and its worker processes, sampled every half second; CPU time is their user + "
        "system time at the last sample of each, and core utilisation that CPU time / wall time / the cores the "
        "chapter was given (the machine's, or its share when the build ran chapters side by side with `--jobs`; "
        "100 %: every one of them busy throughout). *Computed / read* counts the detections, aligned crops and "
        "embeddings the chapter computed and those it read from the caches (a warm run computes none). The "
        "processor is the CPU the chapter ran on: minutes are comparable only on the same kind.\n",
        _md_table(rows),
        f"\nSum of the latest runs: {_minutes(total)}"
        + (f", core utilisation {_share(whole)} over them" if whole is not None else "")
        + _machines(latest) + ".\n",
        "## Versions\n",
        _md_table([{"package": k, "version": v} for k, v in vers.items()]),
        "\n## Data used (sha256 from the records)\n",
        _md_table(data_rows),
        "\n## Weights used (sha256 from the records)\n",
        _md_table(weight_rows),
        "\n## What the full profile would add\n",
        "Parameters that differ from this profile, and datasets or weights the full profile needs that this "
        "machine lacks (`facekit book --profile full --check` says where to get each).\n",
        _md_table(full_profile_rows(names, profile)),
    ]
    return atomic_write_text(out or paths.book_dir() / "status.md", "\n".join(parts))
