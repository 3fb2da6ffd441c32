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
# # Synthesis: what the five reports claimed, and what this build found
#
# One row per quantitative claim of reports 000 to 004. The claim and its figure are the report's own. Our
# figure is read from the records this build's chapters wrote, with its 95 % interval, and the verdict is computed
# from those records by the rule printed below, never typed in. Where a full-profile run's records are present,
# its figure and verdict stand in a column of their own.

# %% tags=["parameters"]
profile = "cpu"
seed = 0

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from facekit.studies import synthesis as sy

chapter = sy.CHAPTER.study(profile, seed).start()
P = chapter.params

# %% [markdown]
# ## The rule

# %% tags=["hide-input"]
display(Markdown("> " + sy.VERDICT_RULE))

# %% [markdown]
# Intervals: a proportion measured on *n* faces or queries gets its Wilson interval; an LFW accuracy the mean of
# its test folds +- 1.96 sd / sqrt(folds); a row trained with several seeds the range of its seeds (the rule of
# the ResNet18 chapter); a macro F1 a percentile interval over 200 resamples of its test items. A number from
# another model, other training data or another dataset is shown, but judged *not comparable*: the difference would
# measure the substitution, not the report.

# %% [markdown]
# ## Every claim

# %% tags=["hide-input"]
display(Markdown(sy.claims_sentence()))
ours = sy.evaluate(profile)
full = sy.evaluate(P.full_profile) if profile != P.full_profile else None
if full is not None and (full.verdict == "not run here").all():
    full = None  # no full-profile records on this machine
table = ours.rename(columns={"reported": "the report's figure", "ours": f"ours ({profile})",
                             "verdict": f"verdict ({profile})"})
shown = ["report", "claim", "the report's figure", f"ours ({profile})", "protocol difference", f"verdict ({profile})"]
if full is not None:
    table[f"ours ({P.full_profile})"] = full.ours.values
    table[f"verdict ({P.full_profile})"] = full.verdict.values
    shown += [f"ours ({P.full_profile})", f"verdict ({P.full_profile})"]
else:
    display(Markdown(f"No `{P.full_profile}` run's records are on this machine, so there is no full-profile column. "
                     "The reason behind each verdict is in the paragraphs at the end."))
table[shown]

# %%
counts = sy.summary(ours)
counts

# %% [markdown]
# ## Our numbers against the reports'
#
# Claims that state a number: the report's figure (cross) and ours with its interval (bar), coloured by the
# verdict. Claims that state a direction: the two sides as the report ordered them, the one it says is better on
# top.

# %%
colours = {"reproduced": "tab:green", "not reproduced": "tab:red", "not comparable": "tab:grey",
           "not run here": "lightgrey"}
values = ours[ours.reported_value.notna() & ours.ours_value.notna()].reset_index(drop=True)
pairs = ours[ours.pair.notna()].reset_index(drop=True)
fig, axes = plt.subplots(1, 2, figsize=(13, 0.5 * max(len(values), len(pairs)) + 1.8))
ax = axes[0]
for i, row in values.iterrows():
    c = colours[row.verdict]
    ax.errorbar(row.ours_value, i, xerr=[[row.ours_value - row.ours_lo], [row.ours_hi - row.ours_value]], fmt="o",
                color=c, capsize=3)
    ax.plot(row.reported_value, i, "kx", markersize=8)
ax.set_yticks(range(len(values)), [f"{k}" for k in values.key])
ax.set_xlabel("value (accuracy, top-1 or cosine threshold; unitless, 0-1)")
ax.set_title("claims of a number: report (x) vs ours (o, 95 % interval)")
ax.invert_yaxis()
ax = axes[1]
for i, row in pairs.iterrows():
    better, worse = row.pair
    for f, dy, marker in ((better, -0.15, "^"), (worse, 0.15, "v")):
        ax.errorbar(f.value, i + dy, xerr=[[f.value - f.lo], [f.hi - f.value]], fmt=marker,
                    color=colours[row.verdict], capsize=3)
ax.set_yticks(range(len(pairs)), list(pairs.key))
ax.set_xlabel("value (accuracy or top-1; unitless, 0-1)")
ax.set_title("claims of a direction: said better (^) vs said worse (v)")
ax.invert_yaxis()
handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=v) for v, c in colours.items()]
fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False)
fig.tight_layout(rect=(0, 0.06, 1, 1))
plt.show()

# %% [markdown]
# ## What the evidence supports, report by report
#
# Each paragraph is written from the verdicts above: the claims in each class, with the reason the rule gave.

# %%
display(Markdown("\n\n".join(sy.paragraph(r, ours) for r in sorted(ours.report.unique()))))

# %% [markdown]
# Most numbers cannot be compared: the reports' models (VGG-M-Face-BN, DeepFace's Facenet, report 003's FaceNet
# and ResNet50-FPN) and datasets (Kaggle Pins, CelebA Mini, CASIA-WebFace in the cpu profile) are not on this
# machine, and every chapter says which substitute it used. The claims about *directions* (which loss, which
# normalisation, which schedule) survive a substitution better, and those are the rows with a verdict.

# %% tags=["hide-input"]
sy.write_verdicts(chapter, ours, full)
print(f"{len(ours)} verdicts written to results/{profile}/{sy.CHAPTER.name}/")
