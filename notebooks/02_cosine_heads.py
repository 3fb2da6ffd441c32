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
import seaborn as sns
from IPython.display import Markdown, display

from facekit.report import admonition
from facekit.studies import cosine_heads as hs

warnings.filterwarnings("ignore", message=".*experimental.*")
chapter = hs.CHAPTER.study(profile, seed).start()
P = chapter.params
print(f"trials={P.trials} trial_epochs={P.trial_epochs} final_epochs={P.final_epochs}")

# %% [markdown]
# ## Data and embedders

# %%
df, pins_ok = hs.closed_set(chapter)
if pins_ok:
    display(Markdown(f"Closed set: the identity folders of `{P.dataset}`."))
else:
    display(admonition(
        "Pins-105 absent: LFW people with many images instead",
        "Report 000's 105 Kaggle \"Pins\" celebrities cannot be downloaded here (no internet, Kaggle account). "
        f"The closed set is **LFW's people with at least {P.min_images} images**"
        + (f" (the {P.max_people} with the most, {P.max_images} images each: smoke run)" if P.max_people else "")
        + "; sex comes from LFW's gender lists. The numbers are therefore not comparable one to one with the "
        "report's: LFW faces are centred news photos, Pins faces are cropped web photos."))
# report 000 trained its heads on the faces its extraction accepted: the extraction runs first (its timings and
# rejections are shown further down), then the training set is chosen
all_images = df
ext_table, ext = hs.run_extraction(chapter, all_images, hs.extraction_path(pins_ok))
df, faces_sentence = hs.training_set(chapter, all_images, ext_table)
display(Markdown(faces_sentence))
has_sex = bool((df.sex_label >= 0).all())
display(Markdown(f"**{df.name.nunique()} people, {len(df):,} images**, split 70 / 10 / 20 within each person "
                 f"(seed {seed}); share of male images: {(df.sex == 'male').mean():.3f}."))
hs.split_table(df)

# %%
embedders, missing, path_table = hs.chosen_embedders(chapter, pins_ok)
if hs.ORIGINAL_EMBEDDER in missing or not any(fp.embedder == hs.ORIGINAL_EMBEDDER for fp in embedders):
    display(admonition("VGG-M-Face-BN weights absent: other frozen embedders used instead",
                       hs.substitutes_note(embedders)))
display(path_table)

# %% [markdown]
# The backbone is frozen, so every image is embedded once (the embedding cache makes a rerun read small files)
# and each head trains on an array of features: an epoch takes a fraction of a second on two CPU cores.

# %%
features, paths_by_embedder, lines = hs.embed_all(df, embedders)
print("\n".join(lines))

# %% [markdown]
# ## Hyper-parameter search with pruning
#
# For each embedder and head, an Optuna study samples the report's space (learning rate 3e-4 to 3e-3 and weight
# decay 1e-5 to 5e-4 on log scales, `s` in {16, 32, 48, 64}; for the multi-head also the sex head's scale and
# the two loss weights) with the TPE sampler, trains each trial for at most `trial_epochs` epochs and lets the
# median pruner stop trials whose validation accuracy falls below the median of earlier trials at the same
# epoch. The multi-head is scored by the mean of its identity and sex validation accuracies. Studies live in a
# SQLite file under `results/` (any SQLAlchemy URL works, so several machines can share one); an interrupted
# search resumes where it stopped. The final head is then trained with the best parameters for at most
# `final_epochs`, keeping the epoch with the best validation score, and scored once on the test split. Like the
# report, every training stops once its validation loss has stopped falling (`patience` epochs without a lower
# one). The report's recipe beside this chapter's, per profile:

# %%
display(hs.recipe_table())

# %%
kinds = ["single", "multi"] if has_sex else ["single"]
if not has_sex:
    display(admonition("No sex labels for this closed set",
                       "The multi-head and the sex parts need `sex.csv` (name, sex) in the dataset folder; skipped."))
runs = {}
for emb in features:
    for kind in kinds:
        runs[emb, kind] = hs.run_heads(chapter, features[emb], df, paths_by_embedder[emb], kind)
        print(hs.search_summary(runs[emb, kind], emb, kind))

# %%
best_emb = hs.best_embedder(runs)
for kind in kinds:
    hs.search_plots(runs[best_emb, kind], title=f"{kind} head, {hs.label(best_emb)}")
    plt.show()

# %% [markdown]
# ## Test results beside report 000
#
# Accuracy and macro precision / recall / F1 (scikit-learn) of the final heads on the test split. The
# "reported by 000" columns are the report's figures for VGG-M-Face-BN on its 105 Pins celebrities, shown for
# reference: a different embedder, dataset and split.

# %%
all_images_runs = hs.run_all_images_row(chapter, all_images, embedders)  # the ablation row (empty when not asked)
hs.results_table(chapter, list(features), kinds, ("", *([hs.ALL_IMAGES] if all_images_runs else [])))

# %%
display(Markdown(hs.headline(runs, best_emb)))

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
    cm = hs.sex_confusion(runs[best_emb, "multi"])
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
    unseen, confusions = hs.run_sex_unseen(chapter, df, embedders, features)
    for emb_label, confusion in confusions.items():
        display(Markdown(f"{emb_label}: confusion on unseen people"), confusion)
    display(unseen)

# %% [markdown]
# ## Face extraction (report 000, sections 2.2 and 3.1-3.2)
#
# Report 000 cut each photo to the person with YOLO, found the face with RetinaFace, aligned it with dlib and
# dropped faces that failed sanity checks (too small, turned away, blurred), keeping 39.6 % of its images at
# 4.65 s per image. Here the same RetinaFace box feeds dlib's 5-point alignment, with the checks of
# `facekit.align`, on every closed-set image. The seconds are those measured when each image was first detected
# (the detection cache keeps them), plus the alignment.

# %%
ext_summary, causes = hs.extraction_table(ext)
display(ext_summary, Markdown(causes))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
sns.histplot(ext_table.score.dropna(), bins=30, ax=axes[0])
axes[0].set(title="RetinaFace confidence of the chosen face", xlabel="score (0-1)", ylabel="images")
sns.histplot(ext_table.seconds * 1000, bins=30, ax=axes[1])
axes[1].set(title="Time per image (detect + align)", xlabel="milliseconds per image", ylabel="images")
plt.tight_layout()
plt.show()

# %%
yolo_timing, why = hs.yolo_person(chapter, all_images)
yolo_rep = hs.REPORTED["yolo_person"]
yolo_claims = (f"{yolo_rep['seconds_per_image']} s per image on its machine, a person box in "
               f"{yolo_rep['found_share']:.2%} of photos, confidence {yolo_rep['confidence_mean']:.1%} ± "
               f"{yolo_rep['confidence_std']:.1%}")
if yolo_timing is not None:
    display(yolo_timing)
    ax = sns.histplot(hs.yolo_confidences(chapter), bins=20)
    ax.set(title="YOLO person confidence of the best box (report 000's Fig. 1 on its photos)",
           xlabel="confidence (0-1)", ylabel="images")
    plt.show()
elif P.yolo_images:  # absent weights: said, not raised
    display(admonition("YOLO person step skipped", f"Report 000 measured {yolo_claims}; not run here: {why}"))
else:
    display(admonition(
        "YOLO person step not run in this profile",
        f"Report 000 cut each photo to the person with YOLO: {yolo_claims}. COCO-trained YOLO weights "
        "(`yolo26n-coco`) are absent on these machines and need the internet, so the person step (timing, "
        "reliability and the confidence histogram) runs in the `full` profile only "
        "(`facekit.studies.cosine_heads.run_yolo_person_timing`); LFW photos are already centred on one person."))
