"""Optuna studies on an RDB storage (a SQLite file under results/ by default), resumable and shareable.

A study is created or loaded by name (``load_if_exists``), and ``run_study`` only runs the trials still missing
towards ``n_trials`` (completed and pruned ones count), so an interrupted search continues where it stopped and
several machines can fill one study through a shared SQLAlchemy URL (e.g. ``postgresql://...``). Trials left
"running" by a killed process are failed by Optuna's heartbeat once their grace period is over.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import optuna

from facekit import paths

DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def storage_url(profile: str, study: str, filename: str = "optuna.db") -> str:
    """SQLite URL of the chapter's study file: ``results/<profile>/<study>/optuna.db``."""
    path = paths.results_dir() / profile / study / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _storage(url: str) -> optuna.storages.BaseStorage:
    # heartbeat: a trial whose process died is marked failed after the grace period instead of "running" forever
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=10, grace_period=30)


def load_study(name: str, storage: str, seed: int = 0, startup_trials: int = 5,
               warmup_steps: int = 3) -> optuna.Study:
    """Create or load the maximising study ``name`` (TPE sampler seeded, median pruner on intermediate values)."""
    return optuna.create_study(
        study_name=name, storage=_storage(storage), load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_steps))


def finished(study: optuna.Study) -> int:
    """Trials that count towards the budget: completed or pruned."""
    return len(study.get_trials(deepcopy=False, states=DONE))


def run_study(objective: Callable[[optuna.Trial], float], name: str, storage: str, n_trials: int, seed: int = 0,
              progress: bool = True, log_trials: bool = False, **kwargs) -> optuna.Study:
    """Run ``objective`` until the study holds ``n_trials`` finished trials; a rerun after an interruption only
    runs the missing ones (the study, its trials and its best value are kept). Optuna's per-trial log lines are
    shown with ``log_trials`` (the study itself records every trial)."""
    optuna.logging.set_verbosity(optuna.logging.INFO if log_trials else optuna.logging.WARNING)
    study = load_study(name, storage, seed=seed, **kwargs)
    missing = max(0, n_trials - finished(study))
    if missing:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
            study.optimize(objective, n_trials=missing, show_progress_bar=progress)
    return study


def plots(study: optuna.Study, title: str = "") -> list:
    """Optuna's matplotlib figures: optimisation history and (with two finished trials or more) parameter
    importances; returns the axes."""
    from optuna.visualization import matplotlib as ovm

    values = {t.value for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = [ovm.plot_optimization_history(study)]
        if len(values) >= 2:
            axes.append(ovm.plot_param_importances(study))
    if len(values) == 1:  # importances of a constant objective are undefined: say so instead of drawing them
        axes[0].text(0.5, 0.35, f"every completed trial scored {next(iter(values)):.4f}:\nthe validation split "
                     "cannot rank these settings", transform=axes[0].transAxes, ha="center", fontsize=8)
    for ax in axes:
        name = ax.get_title(loc="left") or ax.get_title()
        ax.set_title("", loc="left")  # optuna titles some plots on the left: one centred title, no overlap
        ax.set_title(f"{name}: {title}" if title else name, fontsize=9)
    return axes
