"""A transformers pipeline task, ``facial-expression-recognition``:

    >>> from transformers import pipeline                                       # doctest: +SKIP
    >>> import unifer.pipeline                                                  # doctest: +SKIP
    >>> fer = pipeline("facial-expression-recognition", model="path/to/unifer")  # doctest: +SKIP
    >>> fer("face.jpg", candidate_labels=["happiness", "sadness"])              # doctest: +SKIP
    [{'label': 'happiness', 'score': 0.93, 'reasoning': '…'}, {'label': 'sadness', 'score': 0.07, …}]

Without ``candidate_labels`` the model config's ``candidate_labels`` are used (a UniFER checkpoint's), else the
eight canonical emotions (a plain Qwen2.5-VL checkpoint). Scores are the candidate probabilities of
:class:`unifer.inference.FERPrediction`; the first entry is the model's answer when it gave one, the others follow
sorted high to low; every entry carries the model's reasoning and whether the answer was well formed.

``fer(photo, detect_faces=True)`` finds the faces first (:mod:`unifer.faces`, the ``faces`` extra) and returns one
entry per face, left to right: ``{"face": 0, "box": [x0, y0, x1, y1], "predictions": [...the list above...]}``,
boxes in displayed pixels (EXIF orientation applied); ``[]`` when no face is found, unless
``no_face="whole_image"`` reads the whole image as one face.
"""

from __future__ import annotations

from typing import Any

from transformers import AutoModelForImageTextToText, AutoProcessor, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from unifer.images import DEFAULT_IMAGE_SIZE
from unifer.inference import TransformersEngine, predict_with_engine
from unifer.labels import CANONICAL_EMOTIONS

TASK = "facial-expression-recognition"


class FacialExpressionRecognitionPipeline(Pipeline):
    """Label faces with a UniFER (or any Qwen2.5-VL) model; one image per call or a list."""

    _load_processor = True
    _load_image_processor = False
    _load_tokenizer = False

    def _sanitize_parameters(
        self,
        candidate_labels=None,
        reasoning=None,
        max_new_tokens=None,
        image_size=None,
        detect_faces=None,
        no_face=None,
    ):
        forward = {
            key: value
            for key, value in {
                "candidate_labels": candidate_labels,
                "reasoning": reasoning,
                "max_new_tokens": max_new_tokens,
                "image_size": image_size,
                "detect_faces": detect_faces,
                "no_face": no_face,
            }.items()
            if value is not None
        }
        return {}, forward, {}

    def preprocess(self, image: Any) -> dict[str, Any]:
        return {"image": image}

    def _forward(
        self,
        inputs: dict[str, Any],
        candidate_labels=None,
        reasoning=True,
        max_new_tokens=None,
        image_size=None,
        detect_faces=False,
        no_face="skip",
    ) -> dict[str, Any]:
        if getattr(self, "_engine", None) is None:
            processor = self.processor or AutoProcessor.from_pretrained(self.model.name_or_path)
            self._engine = TransformersEngine(self.model, processor)
        config = self.model.config
        candidates = candidate_labels or getattr(config, "candidate_labels", None) or CANONICAL_EMOTIONS
        size = image_size or getattr(config, "image_size", DEFAULT_IMAGE_SIZE)
        if detect_faces:  # one entry per face, each with its box (unifer.faces; needs unifer[faces])
            from unifer.faces import predict_faces

            settings = {"reasoning": reasoning, "max_new_tokens": max_new_tokens, "image_size": size}
            return {"faces": predict_faces(self._engine, inputs["image"], candidates, no_face=no_face, **settings)}
        [prediction] = predict_with_engine(
            self._engine,
            [inputs["image"]],
            candidates,
            reasoning=reasoning,
            max_new_tokens=max_new_tokens,
            image_size=size,
            batch_size=1,
        )
        return {"prediction": prediction}

    def postprocess(self, outputs: dict[str, Any]) -> list[dict[str, Any]]:
        if "faces" in outputs:
            return [
                {
                    "face": face.face,
                    "box": list(face.box),
                    "predictions": self.postprocess({"prediction": face.prediction}),
                }
                for face in outputs["faces"]
            ]
        prediction = outputs["prediction"]
        # The model's answer first (what `predict` says), then the other candidates by probability.
        ranked = sorted(prediction.probabilities.items(), key=lambda item: (item[0] != prediction.label, -item[1]))
        return [
            {"label": label, "score": score, "reasoning": prediction.reasoning, "well_formed": prediction.well_formed}
            for label, score in ranked
        ]


PIPELINE_REGISTRY.register_pipeline(
    TASK, pipeline_class=FacialExpressionRecognitionPipeline, pt_model=AutoModelForImageTextToText, type="multimodal"
)
