"""Stage 0 (vision-tower pre-training with a max-pooled classifier) on the tiny random model."""

import pytest
import torch

pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402

from unifer.data.synfer import iter_faces  # noqa: E402
from unifer.trainers.configs import VisionPretrainingConfig  # noqa: E402
from unifer.trainers.vision_pretraining import (  # noqa: E402
    EncodedFaces,
    MaxPooledTowerClassifier,
    collate_faces,
    pretrain_vision_tower,
    probe_accuracy,
)

EMOTIONS = ("neutral", "happiness", "sadness")


@pytest.fixture(scope="module")
def labelled_faces():
    rows = [
        (EMOTIONS.index(emotion), image) for _, emotion, image in iter_faces(2, seed=0, size=64, emotions=EMOTIONS)
    ]
    return Dataset.from_dict({"label": [label for label, _ in rows], "image": [image for _, image in rows]})


def test_pretraining_changes_the_vision_tower_only(tiny_model_path, labelled_faces, tmp_path):
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_path)
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    args = VisionPretrainingConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        image_size=56,
        report_to="none",
        save_strategy="no",
    )
    classifier = pretrain_vision_tower(model, processor.image_processor, labelled_faces, len(EMOTIONS), args)
    moved = {name for name, param in model.named_parameters() if not torch.equal(before[name], param)}
    assert moved and all(".visual." in f".{name}" for name in moved)
    assert classifier.visual is model.model.visual  # the classifier trained the model's own tower, not a copy


def test_probe_accuracy_is_the_share_of_faces_classified_right(tiny_model_path, labelled_faces):
    """A head that answers one class whatever the face (zero weights, one positive bias) is right exactly on that
    class's faces: here 2 of 3 for class 0, 1 of 3 for class 1, none for class 2, over batches of 2."""
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_path)
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    labels = labelled_faces["label"]
    picked = [i for i, label in enumerate(labels) if label == 0] + [labels.index(1)]
    faces = labelled_faces.select(picked)
    classifier = MaxPooledTowerClassifier(model.model.visual, len(EMOTIONS))
    for answer, expected in [(0, 2 / 3), (1, 1 / 3), (2, 0.0)]:
        with torch.no_grad():
            classifier.head.weight.zero_()
            classifier.head.bias.copy_(torch.nn.functional.one_hot(torch.tensor(answer), len(EMOTIONS)))
        classifier.train()
        accuracy = probe_accuracy(classifier, processor.image_processor, faces, 56, batch_size=2)
        assert accuracy == pytest.approx(expected) and classifier.training  # its training mode is given back


def test_max_pooling_is_per_image_for_mixed_sizes(tiny_model_path, labelled_faces):
    """Two faces of different sizes in one batch: each image's logits equal its logits alone."""
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_path)
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    classifier = MaxPooledTowerClassifier(model.model.visual, len(EMOTIONS)).eval()
    two = labelled_faces.select(range(2))
    big, small = (EncodedFaces(two, processor.image_processor, size) for size in (56, 28))
    alone = [collate_faces([big[0]]), collate_faces([small[1]])]
    mixed = {
        "pixel_values": torch.cat([a["pixel_values"] for a in alone]),
        "image_grid_thw": torch.cat([a["image_grid_thw"] for a in alone]),
    }
    with torch.no_grad():
        together = classifier(**mixed)["logits"]
        separately = torch.cat([classifier(a["pixel_values"], a["image_grid_thw"])["logits"] for a in alone])
    assert alone[0]["image_grid_thw"].prod() != alone[1]["image_grid_thw"].prod()
    torch.testing.assert_close(together, separately, atol=1e-5, rtol=1e-4)


def test_encoded_faces_collate_to_labels_and_one_grid_per_face(tiny_model_path, labelled_faces):
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    faces = EncodedFaces(labelled_faces, processor.image_processor, 56, chunk=4)
    assert len(faces) == len(labelled_faces)
    batch = collate_faces([faces[i] for i in range(3)])
    assert batch["labels"].tolist() == labelled_faces["label"][:3]
    assert batch["image_grid_thw"].shape == (3, 3)
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(-1).sum())


@pytest.mark.slow
def test_token_loss_changes_training_from_its_start_step(tiny_model_path, labelled_faces, tmp_path):
    """Weight 0, or a start step after the last step, train alike; switched on, the tower trains differently."""
    processor = AutoProcessor.from_pretrained(tiny_model_path)

    def tower_after(**token_loss):
        torch.manual_seed(0)  # the classifier's head is initialised before the Trainer seeds
        model = AutoModelForImageTextToText.from_pretrained(tiny_model_path)
        args = VisionPretrainingConfig(
            output_dir=str(tmp_path),
            max_steps=3,
            per_device_train_batch_size=4,
            learning_rate=1e-3,
            image_size=56,
            report_to="none",
            save_strategy="no",
            **token_loss,
        )
        pretrain_vision_tower(model, processor.image_processor, labelled_faces, len(EMOTIONS), args)
        return dict(model.model.visual.named_parameters())

    plain = tower_after()
    never = tower_after(token_loss_weight=1.0, token_loss_start=3)
    from_start = tower_after(token_loss_weight=1.0)
    assert all(torch.equal(plain[name], never[name]) for name in plain)
    assert any(not torch.equal(plain[name], from_start[name]) for name in plain)


def test_token_loss_settings_must_not_be_negative(tmp_path):
    with pytest.raises(ValueError, match="token_loss_weight=-1.0"):
        VisionPretrainingConfig(output_dir=str(tmp_path), token_loss_weight=-1.0)
