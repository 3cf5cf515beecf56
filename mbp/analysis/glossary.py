"""The dashboard's glossary: one definition per term, in one place (rendered in every page's
sidebar by `views._common.glossary`; the pages' help texts point here).

    python -c "from mbp.analysis.glossary import GLOSSARY; print(GLOSSARY['relative drop'])"
"""

from __future__ import annotations

#: term -> one or two sentences (Markdown). Order = the order shown.
GLOSSARY: dict[str, str] = {
    "importance order": "Heads are pruned least important first, ranked once by their "
    "importance score (Michel et al. 2019: expected |∂loss/∂gate| on held-out examples).",
    "iterative order": "Like the importance order, but the remaining heads are re-scored after "
    "each pruning step, so the ranking adapts to what is already gone.",
    "reverse order": "Most important heads first: the worst case, a check that the importance "
    "ranking means something.",
    "random order": "Heads in a random order, repeated with several seeds. The line is the mean "
    "over seeds; the band around it is their min-max range (or ±1 standard deviation).",
    "relative drop": "The share of the unpruned score lost: 1 − pruned / unpruned (×100 = %). "
    "Positive means pruning hurt, negative means the pruned model scored higher. On Pruning "
    "curves, 'relative' instead plots the score as % of the unpruned one (100 % = no loss).",
    "drop (points)": "Unpruned minus pruned score, ×100 (1 point = 0.01 accuracy). Positive = "
    "removing it hurt (red in heatmaps), negative = it helped (blue).",
    "protocol": "**retrain** (the paper's): heads are removed from the pre-trained model, which is "
    "then fine-tuned without them. **posthoc** (Michel et al. 2019): heads are removed from the "
    "fine-tuned model, with no retraining.",
    "reliance": "Layer importance: the drop (points) from removing every head of the bottom "
    "third of the layers minus the drop from removing the top third. Above 0 the bottom layers "
    "matter more, below 0 the top layers do.",
    "cell": "The unit of work a run stores at once: for a sweep one order × prune-order seed × "
    "grid point, for a layer-wise run one layer or one third, for an importance run the scoring. "
    "A killed run resumes by computing only its missing cells.",
    "prunable keeping 90%": "Per order: the largest fraction of heads pruned up to which every "
    "grid point (random order: the mean over its seeds) still scores at least 90 % of the "
    "unpruned score; 0 when the first pruned point already falls below.",
    "Pareto front": "Per model and language, over every order and protocol shown: the points for "
    "which no other point saves at least as much (heads, FLOPs or parameters) with a score at "
    "least as high.",
    "prune-order seeds vs training seeds": "Prune-order seeds (`--seeds`) shuffle the random "
    "order only: one curve each, drawn as a mean with a band. Training seeds (`--train-seed`) "
    "seed the fine-tune (new classifier, example sample and order): each gives another "
    "fine-tuned model and its own run; charts show training seed 0 unless you pick another run.",
    "chance level": "The score of guessing uniformly at random: 1 / classes for accuracy, 0 for "
    "Matthews and correlations; none is drawn for F1, which depends on the label balance.",
    "examples": "How many evaluation examples (per language) each point is measured on; runs "
    "with different counts are kept apart (the Examples choice).",
}
