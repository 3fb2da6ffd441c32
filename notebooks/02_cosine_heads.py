# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Report 000: a frozen embedder with cosine-softmax heads
#
# Report 000 froze a VGG-M-Face-BN face embedder (4096-d) and trained small classification heads on its
# features to name 105 celebrities (Kaggle "Pins") and, in a second model, to name them and tell their sex at
# once. The heads are bias-free **cosine-softmax** layers: features and class weights are L2-normalised and the
# logits are `s * cos(angle)`, with the scale `s` searched by Optuna beside the learning rate and weight decay.
# The report also timed its face extraction (YOLO person boxes, then RetinaFace with dlib alignment and sanity
# checks). This chapter reproduces the method with the embedders available here, searches the same
# hyper-parameter space with pruning, and measures what the report did not: sex on people the head never saw.
# Every number below is read from the results records this run wrote.

# %% tags=["parameters"]
profile = "cpu"
seed = 0

# %% tags=["hide-input"]
import warnings

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from facekit import tune
from facekit.data import lfw, sources
from facekit.data.folders import closed_set_folder
from facekit.data.splits import split_sizes
from facekit.report import admonition
from facekit.studies import heads as hs
from facekit.weights import WeightsMissing

warnings.filterwarnings("ignore", message=".*experimental.*")
chapter = hs.CHAPTER.study(profile, seed).start()
P = chapter.params
print(f"trials={P.trials} trial_epochs={P.trial_epochs} final_epochs={P.final_epochs}")

# %% [markdown]
# ## Data and embedders

# %%
pins_ok = bool(P.dataset) and not chapter.runnable({P.dataset: f"dataset:{P.dataset}"})[1]
if pins_ok:
    df = closed_set_folder(sources.ensure(P.dataset) / P.subfolder, min_images=P.min_images, seed=seed)
    display(Markdown(f"Closed set: the identity folders of `{P.dataset}`."))
else:
    df = lfw.closed_set(P.min_images, P.max_people, P.max_images, seed=seed)
    display(admonition(
        "Pins-105 absent: LFW people with many images instead",
        "Report 000's 105 Kaggle \"Pins\" celebrities cannot be downloaded here (no internet, Kaggle account). "
        f"The closed set is **LFW's people with at least {P.min_images} images**"
        + (f" (the {P.max_people} with the most, {P.max_images} images each: smoke run)" if P.max_people else "")
        + "; sex comes from LFW's gender lists. The numbers are therefore not comparable one to one with the "
        "report's: LFW faces are centred news photos, Pins faces are cropped web photos."))
has_sex = bool((df.sex_label >= 0).all())
display(Markdown(f"**{df.name.nunique()} people, {len(df):,} images**, split 70 / 10 / 20 within each person "
                 f"(seed {seed}); share of male images: {(df.sex == 'male').mean():.3f}."))
split_sizes(df.split, df.name)

# %%
embedders, missing = hs.runnable(chapter)
if pins_ok:  # Pins photos are not centred on one person: the largest face
    embedders = [fp.replace(policy="largest") for fp in embedders]
if hs.ORIGINAL_EMBEDDER in missing or not any(fp.embedder == hs.ORIGINAL_EMBEDDER for fp in embedders):
    display(admonition(
        "VGG-M-Face-BN weights absent: dlib ResNet and MobileFaceNet used instead",
        "Report 000's frozen embedder, VGG-M-Face-BN (4096-d), needs weights downloaded from the internet "
        "(`facekit weights status` says where they go; the `full` profile uses them). Here two frozen embedders "
        "that are on this machine stand in for it: **dlib's ResNet (128-d)** and **MobileFaceNet trained on "
        "CASIA-WebFace (256-d with the flipped image)**. Every table and plot title names them as substitutes."))
display(pd.DataFrame([{"embedder": hs.label(fp), "face path": fp.describe()} for fp in embedders]))

# %% [markdown]
# The backbone is frozen, so every image is embedded once (the embedding cache makes a rerun read small files)
# and each head trains on an array of features: an epoch takes a fraction of a second on two CPU cores.

# %%
features, paths_by_embedder = {}, {}
for fp in embedders:
    x, source = hs.embed_frame(df, fp)
    features[fp.embedder], paths_by_embedder[fp.embedder] = x, fp
    print(f"{fp.embedder}: {x.shape[1]}-d; face source: {pd.Series(source).value_counts().to_dict()}")

# %% [markdown]
# ## Hyper-parameter search with pruning
#
# For each embedder and head, an Optuna study samples the report's space (learning rate 3e-4 to 3e-3 and weight
# decay 1e-5 to 5e-4 on log scales, `s` in {16, 32, 48, 64}; for the multi-head also the sex head's scale and
# the two loss weights) with the TPE sampler, trains each trial for at most `trial_epochs` epochs and lets the
# median pruner stop trials whose validation accuracy falls below the median of earlier trials at the same
# epoch. The multi-head is scored by the mean of its identity and sex validation accuracies. Studies live in a
# SQLite file under `results/` (any SQLAlchemy URL works, so several machines can share one); an interrupted
# search resumes where it stopped. The final head is then trained with the best parameters for `final_epochs`,
# keeping the epoch with the best validation score, and scored once on the test split.

# %%
kinds = ["single", "multi"] if has_sex else ["single"]
if not has_sex:
    display(admonition("No sex labels for this closed set",
                       "The multi-head and the sex parts need `sex.csv` (name, sex) in the dataset folder; skipped."))
runs = {}
for emb in features:
    for kind in kinds:
        runs[emb, kind] = hs.run_heads(chapter, features[emb], df, paths_by_embedder[emb], kind)
        optuna_study = runs[emb, kind]["study"]
        states = pd.Series([t.state.name for t in optuna_study.trials]).value_counts().to_dict()
        print(f"{hs.label(emb)}, {kind} head: {len(optuna_study.trials)} trials {states}; best validation "
              f"{optuna_study.best_value:.4f} with {runs[emb, kind]['best']}")

# %%
best_emb = max(features, key=lambda e: runs[e, "single"]["metrics"]["accuracy"])
for kind in kinds:
    axes = tune.plots(runs[best_emb, kind]["study"], title=f"{kind} head, {hs.label(best_emb)}")
    for ax in axes:
        ax.figure.set_size_inches(7, 3.5)
        ax.figure.tight_layout()
    plt.show()

# %% [markdown]
# ## Test results beside report 000
#
# Accuracy and macro precision / recall / F1 (scikit-learn) of the final heads on the test split. The
# "reported by 000" columns are the report's figures for VGG-M-Face-BN on its 105 Pins celebrities, shown for
# reference: a different embedder, dataset and split.

# %%
records = chapter.records([f"{kind}-head_{emb}" for emb in features for kind in kinds])
recs = chapter.table([r["name"] for r in records]).assign(embedder=[r["extra"]["label"] for r in records])
cols = {"embedder": "embedder", "model": "head", "accuracy": "accuracy", "macro_precision": "macro P",
        "macro_recall": "macro R", "macro_f1": "macro F1", "cohen_kappa": "kappa", "sex_accuracy": "sex accuracy",
        "reported.accuracy": "reported by 000: accuracy", "reported.macro_f1": "reported by 000: macro F1",
        "reported.sex_accuracy": "reported by 000: sex accuracy"}
results_table = recs[[c for c in cols if c in recs.columns]].rename(columns=cols)
results_table

# %%
single, multi = runs[best_emb, "single"]["metrics"], runs.get((best_emb, "multi"), {}).get("metrics", {})
display(Markdown(
    f"Best embedder: **{hs.label(best_emb)}**. Single head: accuracy {single['accuracy']:.4f}, macro F1 "
    f"{single['macro_f1']:.4f}"
    + (f"; multi-head identity {multi['accuracy']:.4f} ({100 * (multi['accuracy'] - single['accuracy']):+.2f} "
       f"points against the single head) and sex {multi['sex_accuracy']:.4f}." if multi else ".")))

# %% [markdown]
# ### The identities the single head gets wrong most
#
# Per-identity F1 on the test split, the ten worst (with how many test images each person has: with 20 % of a
# person's images in the test split, a single error moves a small class's F1 a lot).

# %%
worst = chapter.read_table(f"single-head_{best_emb}_per_identity").head(10)
worst

# %%
if has_sex and (best_emb, "multi") in runs:
    pr = runs[best_emb, "multi"]["predictions"]
    cm = pd.crosstab(pr.sex.rename("true sex"), pr.pred_sex.rename("predicted sex"))
    fig, ax = plt.subplots(figsize=(3.6, 3))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_title(f"Multi-head sex, test split\n{hs.label(best_emb)}", fontsize=9)
    plt.show()

# %% [markdown]
# ## Sex on people the head has never seen
#
# On the report's split the same people are in training and test, so the sex head can learn each person's sex
# by their identity: nearly free. A stricter test trains a sex head on LFW people **outside** the closed set
# (one image each, 10 % of those people held out to pick the epoch) and tests it on the closed set's test images:
# every test person is unseen. LFW is mostly male, so the class balance and the balanced accuracy are printed
# beside the accuracy.

# %%
if has_sex:
    others = lfw.other_people(set(df.name), P.sex_per_person, P.sex_people, seed=seed)
    test = df[df.split == "test"]
    rows = []
    for fp in embedders:
        emb = fp.embedder
        x_others, _ = hs.embed_frame(others, fp.replace(policy=lfw.FACE_POLICY))
        out = hs.run_sex_disjoint(chapter, x_others, others, features[emb][(df.split == "test").to_numpy()], test, fp)
        m = out["metrics"]
        rows.append({"embedder": hs.label(emb), "train people": m["train_people"],
                     "train male share": m["train_male_share"], "test people": m["test_people"],
                     "test images": m["samples"], "test male share": m["test_male_share"],
                     "accuracy": m["accuracy"], "balanced accuracy": m["balanced_accuracy"],
                     "kappa": m["cohen_kappa"]})
        display(Markdown(f"{hs.label(emb)}: confusion on unseen people"), out["confusion"])
    display(pd.DataFrame(rows))

# %% [markdown]
# ## Face extraction (report 000, sections 2.2 and 3.1-3.2)
#
# Report 000 cut each photo to the person with YOLO, found the face with RetinaFace, aligned it with dlib and
# dropped faces that failed sanity checks (too small, turned away, blurred), keeping 39.6 % of its images at
# 4.65 s per image. Here the same RetinaFace box feeds dlib's 5-point alignment, with the checks of
# `facekit.align`, on every closed-set image. The seconds are those measured when each image was first detected
# (the detection cache keeps them), plus the alignment.

# %%
ext_table, ext = hs.run_extraction(chapter, df, hs.EXTRACTION if not pins_ok else hs.EXTRACTION.replace(policy="largest"))
display(pd.DataFrame([{"pipeline": "RetinaFace MobileNet-0.25 (substitute for the report's ResNet-50) + dlib "
                                   "5-point alignment", "images": ext["images"],
                       "kept share": ext["accepted_share"], "seconds per image (median)":
                           ext["seconds_per_image_median"], "seconds per image (mean)": ext["seconds_per_image_mean"],
                       "reported by 000: kept share": hs.REPORTED["extraction"]["accepted_share"],
                       "reported by 000: seconds per image": hs.REPORTED["extraction"]["seconds_per_image"]}]))
causes = {k.removeprefix("rejected_"): v for k, v in ext.items() if k.startswith("rejected_")}
display(Markdown("Rejections by cause: " + (", ".join(f"{k} {v}" for k, v in causes.items()) or "none")))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
sns.histplot(ext_table.score.dropna(), bins=30, ax=axes[0])
axes[0].set(title="RetinaFace confidence of the chosen face", xlabel="score (0-1)", ylabel="images")
sns.histplot(ext_table.seconds * 1000, bins=30, ax=axes[1])
axes[1].set(title="Time per image (detect + align)", xlabel="milliseconds per image", ylabel="images")
plt.tight_layout()
plt.show()

# %%
if P.yolo_images:
    try:
        timing = hs.run_yolo_person_timing(chapter, df, P.yolo_images)
        display(pd.DataFrame([{**timing, "reported by 000: seconds per image":
                               hs.REPORTED["yolo_person"]["seconds_per_image"]}]))
    except WeightsMissing as exc:  # absent weights: say so rather than stop the chapter
        display(admonition("YOLO person timing skipped", f"{type(exc).__name__}: {exc}"))
else:
    display(admonition(
        "YOLO person detection not timed in this profile",
        "Report 000 cut each photo to the person with YOLO (2.07 s per image on its machine). COCO-trained YOLO "
        "weights need the internet, so the person step runs in the `full` profile only "
        "(`facekit.studies.heads.run_yolo_person_timing`); LFW photos are already centred on one person."))
