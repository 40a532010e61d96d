"""FER accuracy: scores free-text answers of multimodal LLMs to facial-expression questions (FERBench style).

The scoring itself is ``fer_scoring.score``, bundled from the ``unifer`` package by ``unifer export metric`` (see
``unifer.metrics.export``): this folder needs only the packages in ``requirements.txt``.
"""

import datasets
import evaluate
import numpy  # noqa: F401  (fer_scoring needs it; imported here so that evaluate.load names it when missing)
import sklearn  # noqa: F401  (likewise: evaluate checks only this script's imports)

from .fer_scoring import score

_CITATION = """\
@misc{zhang2025rethinkingfacialexpressionrecognition,
  title={Rethinking Facial Expression Recognition in the Era of Multimodal Large Language Models: Benchmark, Datasets, and Beyond},
  author={Fan Zhang and Haoxuan Li and Shengju Qian and Xin Wang and Zheng Lian and Hao Wu and Zhihong Zhu and Yuan Gao and Qiankun Li and Yefeng Zheng and Zhouchen Lin and Pheng-Ann Heng},
  year={2025},
  eprint={2511.00389},
  archivePrefix={arXiv},
  primaryClass={cs.CV},
  url={https://arxiv.org/abs/2511.00389}
}
"""

_DESCRIPTION = """\
FER accuracy scores a model's free-text responses (`<think>...</think><answer>label</answer>`) against gold
emotion labels. It extracts the answered label from each response, then reports accuracy with a bootstrap 95%
interval, macro precision/recall/F1, unweighted average recall (UAR), per-class figures, a confusion matrix, and
how many responses were unparsable or not well formed.

Two extraction modes: `strict` (default) counts a response only when its single answer block names exactly one
candidate label (aliases such as "joy" for happiness are accepted; hedges, lists and negations are not), and
treats anything else as unparsed, i.e. wrong. `paper` reproduces the official UniFER/FERBench evaluator figure by
figure, quirks included (substring matching, an "unknown" class, error items skipped). With per-item `subsets`
the result has `per_subset` figures and a pooled `overall`.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the model's responses.
    references (`list` of `str`): gold labels (a canonical emotion, an alias, or the subset's own label name).
    candidate_labels (`list` of `list` of `str`, optional): each item's candidate labels. Default: the subset's
        official list when `subsets` is given, else the eight canonical emotions.
    subsets (`list` of `str`, optional): each item's FERBench subset (rafdb, ferplus, affectnet, sfew_2.0).
    errors (`list` of `bool`, optional): True where generation failed (paper: skipped; strict: unparsed).
    extraction (`str`): "strict" (default) or "paper".
    bootstrap (`int`): bootstrap resamples for `accuracy_ci95`; 0 disables it. Default 1000.
    seed (`int`): seed of the bootstrap. Default 0.
Returns:
    accuracy, accuracy_ci95, macro_precision, macro_recall, macro_f1, uar, unparsed_count, unparsed_rate,
    well_formed_rate, per_class, confusion_matrix, confusion_labels (paper mode adds the official names
    precision, recall, f1, total, errors, unknowns, valid); with `subsets` also per_subset and overall.
Examples:
    >>> fer_accuracy = evaluate.load("metrics/fer_accuracy")
    >>> results = fer_accuracy.compute(
    ...     predictions=["<think>Mouth corners up.</think><answer>happy</answer>", "<answer>sad or angry</answer>"],
    ...     references=["happiness", "sadness"], bootstrap=0)
    >>> results["accuracy"], results["unparsed_count"], results["well_formed_rate"]
    (0.5, 1, 0.5)
    >>> results = fer_accuracy.compute(
    ...     predictions=["<answer>angry</answer>", "<answer>sadness</answer>"], references=["angry", "sad"],
    ...     subsets=["ferplus", "ferplus"], extraction="paper", bootstrap=0)
    >>> results["accuracy"], results["per_subset"]["ferplus"]["f1"]
    (1.0, 1.0)
"""

_STRINGS = {"predictions": datasets.Value("string"), "references": datasets.Value("string")}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FERAccuracy(evaluate.Metric):
    """Accuracy, macro F1, UAR and confusion matrices of FER responses, in strict or official (paper) mode."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # evaluate stores only the first option's columns; `candidate_labels` and `subsets` (second option)
            # reach _compute as keyword arguments of compute(), so they cannot go through add()/add_batch().
            features=[
                datasets.Features(_STRINGS),
                datasets.Features(
                    {
                        **_STRINGS,
                        "candidate_labels": datasets.Sequence(datasets.Value("string")),
                        "subsets": datasets.Value("string"),
                    }
                ),
            ],
            reference_urls=["https://arxiv.org/abs/2511.00389", "https://github.com/zfkarl/UniFER"],
        )

    def _compute(self, predictions, references, **kwargs):
        # Every option (candidate_labels, subsets, errors, extraction, bootstrap, seed, ...) is score()'s own.
        return score(predictions, references, **kwargs)
