"""UniFER model: a thin Qwen2.5-VL subclass that knows its FER defaults and can ``predict``.

Importing this module registers ``unifer`` with ``AutoConfig``, ``AutoModel``, ``AutoModelForImageTextToText``
and ``AutoProcessor``. The file doubles as Hub remote code (``save_pretrained`` copies it with an ``auto_map``),
so a saved UniFER folder loads with ``trust_remote_code=True`` even where ``unifer`` is not installed.

UniFER-7B as published is a plain Qwen2.5-VL checkpoint, and so is everything ``unifer train`` saves; a folder
saved from these classes is one too on disk (``model_type: qwen2_5_vl``, see ``UniFERConfig.to_json_string``), with
the FER defaults and an ``auto_map`` added, so lmms-eval, vLLM and a processor or tokenizer loaded alone read it
without asking to run remote code. The one way to get a model that predicts from any of them (Hub id or folder) is
``UniFERForConditionalGeneration.from_pretrained(path)``: it reads a ``qwen2_5_vl`` config as a UniFER one (see
``UniFERConfig.get_config_dict``). ``AutoModelForImageTextToText`` resolves by the checkpoint's model type and gives
the plain Qwen2.5-VL class, without ``predict`` (with ``trust_remote_code=True`` a UniFER-saved folder gives its own
``UniFERForConditionalGeneration``, where ``unifer`` is not installed). UniFER checkpoints load into the Qwen2.5-VL
classes too, because the modules and weight names are the same.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageTextToText,
    AutoProcessor,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLModel,
    Qwen2_5_VLProcessor,
)
from transformers.conversion_mapping import get_checkpoint_conversion_mapping, register_checkpoint_conversion_mapping

from .configuration_unifer import UniFERConfig


class UniFERModel(Qwen2_5_VLModel):
    """The Qwen2.5-VL backbone (vision tower + language model) under the ``unifer`` model type."""

    config_class = UniFERConfig


class UniFERForConditionalGeneration(Qwen2_5_VLForConditionalGeneration):
    """Qwen2.5-VL for generation, with :meth:`predict` for facial expression recognition."""

    config_class = UniFERConfig

    def predict(self, images, candidate_labels=None, *, processor=None, reasoning=True, batch_size=8, **kwargs):
        """Predict the expression of faces; returns one ``FERPrediction`` per image.

        Args:
            images: PIL images, paths, bytes or numpy arrays (or a single one).
            candidate_labels: the labels to choose from (default: ``config.candidate_labels``).
            processor: the model's processor (default: loaded from the model's folder once, then cached).
            reasoning: ask for ``<think>`` reasoning before the answer; ``False`` asks for the answer directly.
            batch_size: faces per generation batch.
            kwargs: ``max_new_tokens``, ``image_size``, ``probabilities`` (score every candidate, default True).
        """
        from .inference import TransformersEngine, predict_with_engine

        if processor is not None or getattr(self, "_unifer_engine", None) is None:
            self._unifer_engine = TransformersEngine(self, processor)
        if not isinstance(images, (list, tuple)):
            images = [images]
        kwargs.setdefault("image_size", self.config.image_size)
        return predict_with_engine(
            self._unifer_engine,
            images,
            candidate_labels or self.config.candidate_labels,
            reasoning=reasoning,
            batch_size=batch_size,
            **kwargs,
        )


#: What a UniFER folder's ``auto_map`` names for ``AutoModelForImageTextToText`` (``trust_remote_code=True``).
REMOTE_MODEL_CLASS = f"modeling_unifer.{UniFERForConditionalGeneration.__name__}"


def is_unifer_folder(config) -> bool:
    """Whether ``config`` (read by ``AutoConfig`` or any config class) is a UniFER folder's: its ``auto_map`` names
    this file's model class. Such a folder is loaded for training through :class:`UniFERForConditionalGeneration`,
    so what training saves carries the remote code its ``auto_map`` names (the Qwen2.5-VL class would keep the
    ``auto_map`` and drop the code)."""
    auto_map = getattr(config, "auto_map", None) or {}
    return auto_map.get("AutoModelForImageTextToText") == REMOTE_MODEL_CLASS


def _register() -> None:
    AutoConfig.register(UniFERConfig.model_type, UniFERConfig, exist_ok=True)
    AutoModel.register(UniFERConfig, UniFERModel, exist_ok=True)
    AutoModelForImageTextToText.register(UniFERConfig, UniFERForConditionalGeneration, exist_ok=True)
    AutoProcessor.register(UniFERConfig, Qwen2_5_VLProcessor, exist_ok=True)
    # Old-layout Qwen2.5-VL checkpoints (UniFER-7B among them) store `model.layers…` / `visual…`; transformers
    # renames those for its own classes only, so the same renaming is declared for ours. `conversion_mapping` is not
    # exported by transformers (its only documentation is an experimental feature's example), and the public
    # alternative, `from_pretrained(key_mapping=…)`, would have to be passed by every caller, remote-code users
    # included: setup.py caps transformers below its next minor version for it.
    for ours, theirs in (
        (UniFERForConditionalGeneration, Qwen2_5_VLForConditionalGeneration),
        (UniFERModel, Qwen2_5_VLModel),
    ):
        register_checkpoint_conversion_mapping(
            ours.__name__, get_checkpoint_conversion_mapping(theirs.__name__), overwrite=True
        )
    UniFERConfig.register_for_auto_class()
    UniFERModel.register_for_auto_class("AutoModel")
    UniFERForConditionalGeneration.register_for_auto_class("AutoModelForImageTextToText")


_register()
