"""UniFER configuration: a Qwen2.5-VL configuration plus the FER defaults a checkpoint carries.

This file doubles as Hub remote code: ``save_pretrained`` copies it (and the modules it imports relatively)
next to the weights, so a saved folder loads with ``trust_remote_code=True`` where ``unifer`` is not installed.
"""

import json
import logging

from transformers import Qwen2_5_VLConfig

from .labels import CANONICAL_EMOTIONS

logger = logging.getLogger(__name__)

#: The model type of plain Qwen2.5-VL checkpoints (UniFER-7B as published, everything ``unifer train`` saves) and
#: of every UniFER folder on disk (:meth:`UniFERConfig.to_json_string`).
QWEN2_5_VL = "qwen2_5_vl"
#: The UniFER classes' names as written in a saved ``config.json``: their Qwen2.5-VL counterparts.
SAVED_ARCHITECTURES = {
    "UniFERForConditionalGeneration": "Qwen2_5_VLForConditionalGeneration",
    "UniFERModel": "Qwen2_5_VLModel",
}


class UniFERConfig(Qwen2_5_VLConfig):
    """Qwen2.5-VL configuration with FER defaults.

    ``UniFERConfig.from_pretrained`` (and so ``UniFERForConditionalGeneration.from_pretrained``) reads a plain
    ``qwen2_5_vl`` checkpoint as a UniFER one: same architecture and weights, FER defaults added.

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

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        # A deliberate conversion, not a mismatch: without it transformers warns that a `qwen2_5_vl` checkpoint
        # "can yield errors" in a `unifer` model, which is untrue here (the modules and weights are the same).
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        if config_dict.get("model_type") == QWEN2_5_VL:
            logger.info("Reading the Qwen2.5-VL checkpoint %s as a UniFER model.", pretrained_model_name_or_path)
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, kwargs

    def to_json_string(self, use_diff: bool = True) -> str:
        # On disk a UniFER folder is a Qwen2.5-VL checkpoint with FER defaults and an `auto_map`: what never imports
        # unifer (lmms-eval, vLLM, AutoProcessor and AutoTokenizer, which read config.json) reads it as Qwen2.5-VL,
        # instead of asking whether to run remote code for a model type it does not know. The UniFER classes stay one
        # step away: UniFERForConditionalGeneration.from_pretrained, or trust_remote_code=True.
        saved = json.loads(super().to_json_string(use_diff))
        saved["model_type"] = QWEN2_5_VL
        if saved.get("architectures"):
            saved["architectures"] = [SAVED_ARCHITECTURES.get(name, name) for name in saved["architectures"]]
        return json.dumps(saved, indent=2, sort_keys=True) + "\n"
