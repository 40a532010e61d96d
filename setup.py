"""One distribution, ``unifer``, mapping the design card's top-level folders into one import namespace."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent

# Lower bounds are the versions the test suite ran against (see README "Tested with").
CORE = [
    "torch>=2.9",
    "torchvision>=0.24",
    # Private transformers APIs with no public equivalent yet: modeling_unifer._register uses
    # transformers.conversion_mapping; trainers' CheckpointWeightsMixin overrides Trainer._load_from_checkpoint.
    "transformers>=5.0,<5.25",
    "tokenizers>=0.22",
    "huggingface_hub>=1.0",
    "pillow>=10",
    "numpy>=1.26",
    "tqdm>=4.66",
]
# Faces in the wild (unifer.faces, unifer.video, `unifer predict`): OpenCV 4.x wheels carry the Haar cascades in
# cv2.data (the 5.x wheels carry none, and no CascadeClassifier); PyAV's wheels carry FFmpeg. See docs/faces.md.
FACES = ["opencv-python-headless>=4.9,<5", "av>=12"]
EXTRAS = {
    "train": [
        "trl>=1.0",
        "datasets>=4.0",
        "accelerate>=1.10",
        "peft>=0.17",
        "evaluate>=0.4.6",
        "scikit-learn>=1.5",
        "matplotlib>=3.8",
        "pyarrow>=18",
        "pyyaml>=6",
        "ijson>=3.2",
        "openai>=1.40",  # curation's endpoint teacher (message.refusal is 1.40's; tested with 3.63)
    ],
    # `unifer eval` and `unifer score`: the benchmark loader, sharding under accelerate, scoring and the report.
    # `--backend openai` talks to servers through the openai SDK (message.refusal is 1.40's; tested with 3.63).
    "eval": ["datasets>=4.0", "accelerate>=1.10", "scikit-learn>=1.5", "matplotlib>=3.8", "openai>=1.40"],
    # FERBench as lmms-eval tasks (unifer/lmms_eval_tasks). The tasks' aggregation reads lmms-eval's CLI arguments
    # (0.7's `args=` hook) and its qwen2_5_vl wrapper imports decord (the video-legacy extra) at import time;
    # lmms_eval.evaluator patches filelock._api, which filelock 4 removed.
    "lmms-eval": ["lmms-eval[video-legacy]>=0.7.3,<0.8", "filelock<4", "datasets>=4.0", "scikit-learn>=1.5"],
    "vllm": ["vllm>=0.11"],
    "faces": FACES,
    "space": ["gradio>=6.0", "gradio_client>=2.0", "scikit-learn>=1.5", *FACES],
    # scikit-image ships the real photos (astronaut.png) the face tests read.
    "dev": [
        "pytest>=8",
        "pytest-timeout>=2.3",
        "playwright>=1.50",
        "ruff>=0.17",
        "hypothesis>=6.170",
        "scikit-image>=0.24",
        # benchmarks/mutation.py's mutants (docs/testing.md).
        "cosmic-ray>=8.7",
    ],
}

setup(
    name="unifer",
    version="0.1.0",
    description="Facial expression recognition with multimodal LLMs: FERBench, UniFER training, inference, demo.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir={
        "unifer": "modeling_unifer",
        "unifer.data": "dataset_scripts",
        "unifer.trainers": "trainers",
        "unifer.metrics": "metrics",
        "unifer.space": "space",
    },
    packages=[
        "unifer",
        "unifer.commands",
        "unifer.lmms_eval_tasks",
        "unifer.lmms_eval_tasks.ferbench",
        "unifer.data",
        "unifer.data.curation",
        "unifer.trainers",
        "unifer.metrics",
        "unifer.metrics.fer_accuracy",
        "unifer.space",
    ],
    package_data={
        "unifer.metrics": ["fer_accuracy/*.md", "fer_accuracy/*.txt"],
        "unifer.trainers": ["recipes/*.yaml", "accelerate/*.yaml"],
        "unifer.space": ["README.md", "requirements.txt"],
        "unifer.lmms_eval_tasks.ferbench": ["*.yaml", "_default_template_yaml"],
    },
    include_package_data=True,
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["unifer = unifer.commands:main"]},
)
