"""False match / non-match rates by sex at one global threshold (issue #21's differential table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facekit.embed import EmbeddedSet
from facekit.verification import all_pair_scores, rates_by_sex


def _set(people: list[str], spread: dict[str, float], seed: int = 0) -> EmbeddedSet:
    """Unit vectors around one centre per person; ``spread`` per person's sex decides how far images stray."""
    rng = np.random.default_rng(seed)
    centres = {p: rng.normal(size=64) for p in dict.fromkeys(people)}
    x = np.stack([centres[p] + spread[p] * rng.normal(size=64) for p in people])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return EmbeddedSet([Path(f"{p}_{k}.jpg") for k, p in enumerate(people)], x.astype(np.float32),
                       ["detected"] * len(people))


def test_all_pairs_and_the_euclidean_metric():
    es = _set(["a", "a", "b"], {"a": 0.1, "b": 0.1})
    s, i, j = all_pair_scores(es)
    assert list(zip(i, j, strict=True)) == [(0, 1), (0, 2), (1, 2)]
    np.testing.assert_allclose(s, [es.embeddings[a] @ es.embeddings[b] for a, b in zip(i, j, strict=True)],
                               rtol=1e-5)
    es.metric = "euclidean"
    d, _, _ = all_pair_scores(es)
    np.testing.assert_allclose(-d, [np.linalg.norm(es.embeddings[a] - es.embeddings[b]) for a, b in
                                    zip(i, j, strict=True)], rtol=1e-4, atol=1e-5)
    es.source[1] = "failed: no face"
    assert all_pair_scores(es)[0].shape == (1,)  # a failed image takes no part


def test_a_noisier_group_shows_a_higher_non_match_rate():
    women = [f"w{k}" for k in range(30) for _ in range(4)]
    men = [f"m{k}" for k in range(30) for _ in range(4)]
    people = women + men
    spread = {**{p: 1.6 for p in women}, **{p: 0.5 for p in men}}
    es = _set(people, spread)
    sexes = ["female" if p.startswith("w") else "male" for p in people]
    t = rates_by_sex(es, people, sexes, far=1e-2, n_boot=200).set_index(["pairs", "sex"])
    fnmr_w, fnmr_m = t.loc[("genuine", "female"), "value"], t.loc[("genuine", "male"), "value"]
    assert fnmr_w > fnmr_m + 0.2  # the noisy women's genuine pairs fall below the global threshold more often
    assert t.loc[("genuine", "female"), "low"] <= fnmr_w <= t.loc[("genuine", "female"), "high"]
    assert t.loc[("impostor", "female"), "n_pairs"] == 120 * 119 // 2 - 30 * 6
    assert t.loc[("impostor", "mixed"), "n_pairs"] == 120 * 120
    overall = (t.loc[t.rate == "FMR", "errors"].sum()) / t.loc[t.rate == "FMR", "n_pairs"].sum()
    assert abs(overall - 1e-2) < 2e-3  # the threshold is global: FMR over all impostor pairs is the target
    assert t.threshold.nunique() == 1


def test_the_by_sex_sentence_is_written_from_the_intervals():
    import pandas as pd

    from facekit.studies.metric_learning import rates_by_sex_sentence

    rows = []
    for emb, f, m in (("a", (0.02, 0.01, 0.03), (0.002, 0.001, 0.003)), ("b", (0.01, 0.005, 0.02),
                                                                       (0.012, 0.008, 0.016))):
        for sex, (v, lo, hi) in (("female", f), ("male", m)):
            for rate in ("FNMR", "FMR"):
                rows.append({"embedder": emb, "sex": sex, "rate": rate, "value": v, "low": lo, "high": hi})
    text = rates_by_sex_sentence(pd.DataFrame(rows))
    fnmr = text.split("**FMR**")[0]
    assert "higher for women, intervals apart: a (0.0200 vs 0.0020)" in fnmr
    assert "intervals overlap): b" in fnmr and "lower for women" not in fnmr
