"""The book's figure helpers (matplotlib/seaborn): image grids, landmark overlays, distributions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from facekit.io import read_image

if TYPE_CHECKING:
    import pandas as pd


def book_style(max_colwidth: int | None = None, precision: int = 3) -> None:
    """The book's look, set once per chapter: seaborn's white grid, tables to ``precision`` digits, shown whole
    (no cell text cut with "...", no rows elided up to 500) and without a default 0..n-1 index column.
    ``max_colwidth`` applies to the plain-text form only; HTML tables wrap long text instead."""
    import pandas as pd
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    pd.set_option("display.precision", precision)
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_columns", None)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, html_table)
        shell.display_formatter.formatters["text/plain"].for_type(
            pd.DataFrame, lambda df, p, cycle: p.text(df.to_string(index=not _plain_index(df),
                                                                   max_colwidth=max_colwidth)))


def _plain_index(df: pd.DataFrame) -> bool:
    import pandas as pd

    return isinstance(df.index, pd.RangeIndex) and df.index.name is None


def html_table(df: pd.DataFrame) -> str:
    """A frame as the book shows it: the index only when it means something (not a default 0..n-1 range)."""
    return df.to_html(index=not _plain_index(df), notebook=True, border=0, max_rows=500, na_rep="—")


def image_grid(images: Sequence[np.ndarray | str | Path], titles: Sequence[str] | None = None, ncols: int = 8,
               size: float = 1.6, suptitle: str | None = None) -> plt.Figure:
    """Show images (arrays or paths, read through ``facekit.io``) in a grid with optional titles."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, img in enumerate(images):
        ax = axes.ravel()[k]
        ax.imshow(img if isinstance(img, np.ndarray) else read_image(img))
        if titles is not None:
            ax.set_title(titles[k], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def landmarks_overlay(image: np.ndarray | str | Path, points: np.ndarray, ax: plt.Axes | None = None,
                      five: np.ndarray | None = None, title: str | None = None) -> plt.Axes:
    """An image with landmark points (small dots) and optionally the 5 derived points (crosses)."""
    ax = ax or plt.gca()
    ax.imshow(image if isinstance(image, np.ndarray) else read_image(image))
    ax.scatter(points[:, 0], points[:, 1], s=3, c="lime")
    if five is not None:
        ax.scatter(five[:, 0], five[:, 1], s=30, c="red", marker="x")
    if title:
        ax.set_title(title, fontsize=8)
    ax.axis("off")
    return ax


def confusion(truth: Sequence[str], predicted: Sequence[str], ax: plt.Axes) -> plt.Axes:
    """A confusion matrix of two label sequences, without a colour bar or grid (scikit-learn's display); an
    empty pair says so in the panel."""
    from sklearn.metrics import ConfusionMatrixDisplay

    if not len(truth):
        ax.text(0.5, 0.5, "nothing to count", ha="center", va="center", transform=ax.transAxes)
        ax.axis("off")
        return ax
    ConfusionMatrixDisplay.from_predictions(truth, predicted, ax=ax, colorbar=False)
    ax.grid(False)
    return ax


def roc(scores: dict[str, tuple[Sequence[bool], Sequence[float]]], ax: plt.Axes) -> plt.Axes:
    """ROC curves (scikit-learn's display, its AUC in the legend) of named (truth, score) pairs; a pair with one
    class only (or none) is left out and says so in the legend."""
    from sklearn.metrics import RocCurveDisplay

    for name, (truth, score) in scores.items():
        if len(set(np.asarray(truth).tolist())) == 2:
            RocCurveDisplay.from_predictions(truth, score, name=name, ax=ax)
        else:
            ax.plot([], [], label=f"{name}: {len(truth)} items, one class or none: no curve")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def score_vs_minutes(histories: dict[str, Sequence[dict]], ax: plt.Axes,
                     ylabel: str = "validation score") -> plt.Axes:
    """Each training's validation score against its cumulative wall-clock minutes (one marker per epoch, from
    the history's per-epoch ``seconds``), labelled with its budget as spent (epochs, minutes) and its best score:
    where a curve still climbs at its last epoch, more minutes would still buy something."""
    import pandas as pd

    for name, history in histories.items():
        h = pd.DataFrame(list(history))
        if h.empty:
            ax.plot([], [], label=f"{name}: no epoch logged")
            continue
        minutes = h.seconds.cumsum() / 60
        ax.plot(minutes, h.val, marker=".",
                label=f"{name}: {len(h)} epochs, {minutes.iloc[-1]:.1f} min, best {h.val.max():.3f}")
    ax.set(xlabel="training minutes (validation included)", ylabel=ylabel)
    ax.legend(fontsize=7)
    return ax


def rates_by_sex(table: pd.DataFrame) -> plt.Figure:
    """False non-match (genuine pairs) and false match (same-sex impostor pairs) rates per embedder and sex, with
    their intervals, one panel per rate (``verification.rates_by_sex`` tables, an ``embedder`` column added)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * table.embedder.nunique() + 1.6), sharey=True)
    names = list(dict.fromkeys(table.embedder))
    for ax, rate in zip(axes, ("FNMR", "FMR"), strict=True):
        for k, sex in enumerate(("female", "male")):
            t = table[(table.rate == rate) & (table.sex == sex)].set_index("embedder").reindex(names)
            y = np.arange(len(names)) + (k - 0.5) * 0.3
            ax.errorbar(t.value, y, xerr=[t.value - t.low, t.high - t.value], fmt="o", capsize=3, label=sex)
        ax.set_yticks(np.arange(len(names)), names)
        ax.set_xscale("symlog", linthresh=1e-4)
        ax.set_xlabel(f"{rate} at the global threshold")
        ax.set_title(f"{rate}: {'genuine' if rate == 'FNMR' else 'same-sex impostor'} pairs")
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower right")
    fig.tight_layout()
    return fig
