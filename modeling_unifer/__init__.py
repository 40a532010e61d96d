"""UniFER: facial expression recognition with multimodal LLMs.

Importing ``unifer`` is cheap (no torch); heavy parts live in submodules.
"""
from .answers import UNKNOWN, ParsedResponse, extract_label, is_well_formed, parse
from .labels import CANONICAL_EMOTIONS, SUBSET_LABELS, SUBSETS, normalize, to_candidate, to_subset_label
from .prompts import chat_messages, fer_question

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_EMOTIONS", "SUBSETS", "SUBSET_LABELS", "UNKNOWN", "ParsedResponse", "chat_messages",
    "extract_label", "fer_question", "is_well_formed", "normalize", "parse", "to_candidate", "to_subset_label",
]
