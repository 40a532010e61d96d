"""Stage 0 for a model built from scratch: pre-train its vision tower on labelled faces.

A released UniFER model starts from Qwen2.5-VL's pre-trained vision tower; a model built from scratch (the offline
quickstart) has none, and a randomly initialised tower trained through the language model stays at chance on
SynFER for hundreds of steps (docs/quickstart.md): near-uniform attention averages the few patches that show the
expression into the background. So stage 0 trains the tower alone with a linear classifier on the **maximum** over
its merged tokens (a patch that shows a raised mouth corner anywhere in the face is enough), then discards the
classifier. Stage 1 (SFT) teaches the language model to read the tower, usually with the tower frozen
(``freeze_vision_tower``).

The language model reads the tower through attention that starts near-uniform, so it learns slowly from features
that sit in the one or two tokens the maximum picks. A second term, the same classifier applied to **every** merged
token (``token_loss_weight``, switched on at ``token_loss_start`` once the maximum has found the expression), makes
the tower's last blocks spread the expression across tokens; the language model then reads it in far fewer steps
(docs/quickstart.md).

This is supervised pre-training on the training split's labels; say so wherever it is used. Its config,
:class:`~unifer.trainers.configs.VisionPretrainingConfig`, lives with the others in :mod:`unifer.trainers.configs`.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Trainer

from unifer.images import prepare_image
from unifer.trainers.configs import VisionPretrainingConfig


class MaxPooledTowerClassifier(nn.Module):
    """A vision tower plus a linear classifier on the maximum over each image's merged tokens; with labels it also
    returns ``token_loss``, the same classifier's cross-entropy on every merged token."""

    def __init__(self, visual: nn.Module, num_labels: int):
        super().__init__()
        self.visual = visual
        self.merge_area = visual.config.spatial_merge_size**2
        self.head = nn.Linear(visual.config.out_hidden_size, num_labels)

    def forward(
        self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        tokens = self.visual(pixel_values, grid_thw=image_grid_thw).pooler_output
        counts = image_grid_thw.prod(-1) // self.merge_area
        logits = self.head(torch.stack([t.amax(0) for t in tokens.split(counts.tolist())]))
        if labels is None:
            return {"logits": logits}
        token_loss = nn.functional.cross_entropy(self.head(tokens), labels.repeat_interleave(counts))
        return {"logits": logits, "loss": nn.functional.cross_entropy(logits, labels), "token_loss": token_loss}


class VisionPretrainingTrainer(Trainer):
    """[`~transformers.Trainer`] adding the per-token term (``token_loss_weight`` from ``token_loss_start``)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs["loss"]
        if self.args.token_loss_weight and self.state.global_step >= self.args.token_loss_start:
            loss = loss + self.args.token_loss_weight * outputs["token_loss"]
        return (loss, outputs) if return_outputs else loss


class EncodedFaces(torch.utils.data.Dataset):
    """Rows with ``image`` and an integer ``label``, encoded by the image processor once: decoding and resizing
    every face at every step would cost more than the tower's own step."""

    def __init__(self, dataset, image_processor, image_size: int | None, chunk: int = 256):
        self.items = []
        for start in range(0, len(dataset), chunk):
            rows = dataset[start : start + chunk]
            encoded = image_processor(
                images=[prepare_image(image, image_size) for image in rows["image"]], return_tensors="pt"
            )
            patches = encoded["pixel_values"].split(encoded["image_grid_thw"].prod(-1).tolist())
            self.items.extend(zip(patches, encoded["image_grid_thw"], rows["label"]))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.items[index]


def collate_faces(items: list[tuple[torch.Tensor, torch.Tensor, int]]) -> dict[str, torch.Tensor]:
    patches, grids, labels = zip(*items)
    return {"pixel_values": torch.cat(patches), "image_grid_thw": torch.stack(grids), "labels": torch.tensor(labels)}


def pretrain_vision_tower(
    model, image_processor, train_dataset, num_labels: int, args: VisionPretrainingConfig
) -> MaxPooledTowerClassifier:
    """Train ``model``'s vision tower in place on ``train_dataset`` (``image``, integer ``label``) and return the
    classifier (for :func:`probe_accuracy`; the model keeps only the trained tower)."""
    classifier = MaxPooledTowerClassifier(model.model.visual, num_labels)
    faces = EncodedFaces(train_dataset, image_processor, args.image_size)
    VisionPretrainingTrainer(classifier, args=args, train_dataset=faces, data_collator=collate_faces).train()
    return classifier


@torch.no_grad()
def probe_accuracy(
    classifier: MaxPooledTowerClassifier, image_processor, dataset, image_size: int | None, batch_size: int = 64
) -> float:
    """Accuracy of the stage-0 classifier on ``dataset`` (``image``, integer ``label``)."""
    faces = EncodedFaces(dataset, image_processor, image_size)
    was_training = classifier.training
    classifier.eval()
    correct = 0
    for start in range(0, len(faces), batch_size):
        batch = collate_faces([faces[i] for i in range(start, min(start + batch_size, len(faces)))])
        correct += int(
            (classifier(batch["pixel_values"], batch["image_grid_thw"])["logits"].argmax(-1) == batch["labels"]).sum()
        )
    classifier.train(was_training)
    return correct / len(dataset)
