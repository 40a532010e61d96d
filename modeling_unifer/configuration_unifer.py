"""UniFER configuration: a Qwen2.5-VL configuration plus the FER defaults a checkpoint carries.

This file doubles as Hub remote code: ``save_pretrained`` copies it (and the modules it imports relatively)
next to the weights, so a saved folder loads with ``trust_remote_code=True`` where ``unifer`` is not installed.
"""

from transformers import Qwen2_5_VLConfig

from .labels import CANONICAL_EMOTIONS


class UniFERConfig(Qwen2_5_VLConfig):
    """Qwen2.5-VL configuration with FER defaults.

    Args (beyond Qwen2.5-VL's):
        candidate_labels: the labels a prediction chooses from when the caller gives none
            (default: the eight canonical emotions).
        image_size: faces are resized to ``image_size``×``image_size`` before the processor (224, as UniFER-7B
            was trained).
    """

    model_type = "unifer"

    candidate_labels: list[str] | tuple[str, ...] = CANONICAL_EMOTIONS
    image_size: int = 224

    def __post_init__(self, **kwargs):
        self.candidate_labels = list(self.candidate_labels)
        super().__post_init__(**kwargs)
