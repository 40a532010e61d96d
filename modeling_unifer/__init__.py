"""UniFER: facial expression recognition with multimodal LLMs.

Importing ``unifer`` is cheap (no torch); heavy parts live in submodules.
"""

from unifer.answers import UNKNOWN, ParsedResponse, extract_label, is_well_formed, parse
from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS, SUBSETS, normalize, to_candidate, to_subset_label
from unifer.prompts import chat_messages, fer_question

__version__ = "0.1.0"

#: The published UniFER-7B weights and UniFER training data on the Hugging Face Hub (arXiv 2511.00389).
PUBLISHED_MODEL = "Karl28/UniFER-7B"
PUBLISHED_DATASET = "Karl28/UniFER"

__all__ = [
    "CANONICAL_EMOTIONS",
    "PUBLISHED_DATASET",
    "PUBLISHED_MODEL",
    "SUBSETS",
    "SUBSET_LABELS",
    "UNKNOWN",
    "ParsedResponse",
    "chat_messages",
    "extract_label",
    "fer_question",
    "is_well_formed",
    "normalize",
    "parse",
    "to_candidate",
    "to_subset_label",
]
