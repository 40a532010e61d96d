"""The vLLM engine: offline ``vllm.LLM`` with multi-modal prompts, same requests and results as the transformers
engine. Tensor parallelism is vLLM's own; data parallelism runs one engine per GPU group in its own process."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from unifer.answers import text_before_answer
from unifer.inference import FERRequest, Generation, softmax


def build_vllm_input(prompt_text: str, image: Any) -> dict[str, Any]:
    """One multi-modal vLLM prompt: chat-templated text holding one image placeholder, and the image."""
    return {"prompt": prompt_text, "multi_modal_data": {"image": image}}


class VLLMEngine:
    """Offline vLLM generation. ``tensor_parallel_size`` GPUs hold one model copy; ``data_parallel_size`` copies
    run side by side on disjoint GPU groups, each taking an equal share of the requests."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int = 8192,
        dtype: str = "bfloat16",
        seed: int = 0,
        trust_remote_code: bool = False,
        processor: Any = None,
    ):
        from transformers import AutoProcessor

        self.model_path = str(model)
        self.processor = processor or AutoProcessor.from_pretrained(
            self.model_path, trust_remote_code=trust_remote_code
        )
        self.llm_kwargs = dict(
            model=self.model_path,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            seed=seed,
            limit_mm_per_prompt={"image": 1},
            trust_remote_code=trust_remote_code,
        )
        self.data_parallel_size = data_parallel_size
        self._llm = None

    @property
    def llm(self):
        if self._llm is None:
            self._llm = _new_llm(self.llm_kwargs)
        return self._llm

    def prompt_text(self, request: FERRequest) -> str:
        return self.processor.apply_chat_template(request.messages(), add_generation_prompt=True, tokenize=False)

    def build_inputs(self, requests: Sequence[FERRequest]) -> list[dict[str, Any]]:
        return [build_vllm_input(self.prompt_text(r), r.image) for r in requests]

    def generate_batches(
        self, requests: Sequence[FERRequest], *, batch_size: int = 256, max_new_tokens: int = 1024, **sampling
    ) -> Any:
        """Yield ``[(index, Generation), …]`` per chunk of ``batch_size`` requests (vLLM batches internally;
        chunks exist so a caller can write results as they come)."""
        params = {"temperature": 0.0, "max_tokens": max_new_tokens, **sampling}
        for start in range(0, len(requests), batch_size):
            chunk = list(range(start, min(start + batch_size, len(requests))))
            outputs = self._run(self.build_inputs([requests[i] for i in chunk]), params)
            yield [(i, Generation(o["text"], o["num_tokens"], o["seconds"])) for i, o in zip(chunk, outputs)]

    def generate(self, requests: Sequence[FERRequest], **kwargs) -> list[Generation]:
        return [g for batch in self.generate_batches(requests, **kwargs) for _, g in batch]

    def score_candidates(self, requests: Sequence[FERRequest], responses: Sequence[str]) -> list[dict[str, float]]:
        """Candidate probabilities from vLLM's prompt log-probabilities of ``<answer>{label}</answer>``."""
        rows = [(i, label) for i, request in enumerate(requests) for label in request.candidate_labels]
        tails = [f"<answer>{label}</answer>" for _, label in rows]
        inputs = [
            build_vllm_input(
                self.prompt_text(requests[i]) + text_before_answer(responses[i]) + tail, requests[i].image
            )
            for (i, _), tail in zip(rows, tails)
        ]
        tail_lengths = [len(self.processor.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in tails]
        outputs = self._run(inputs, {"temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 0})
        scores: list[dict[str, float]] = [{} for _ in requests]
        for (i, label), output, length in zip(rows, outputs, tail_lengths):
            scores[i][label] = sum(output["prompt_logprobs"][-length:])
        return [softmax(s) for s in scores]

    def _run(self, inputs: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.data_parallel_size == 1:
            return _generate(self.llm, inputs, params)
        return _run_data_parallel(self.llm_kwargs, self.data_parallel_size, inputs, params)


def _new_llm(llm_kwargs: dict[str, Any]):
    try:
        from vllm import LLM
    except ImportError as err:
        raise ImportError("The vllm backend needs vLLM: pip install 'unifer[vllm]' (Linux + CUDA GPU).") from err
    return LLM(**llm_kwargs)


def _generate(llm: Any, inputs: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    import time

    from vllm import SamplingParams

    started = time.perf_counter()
    outputs = llm.generate(inputs, SamplingParams(**params), use_tqdm=False)
    seconds = (time.perf_counter() - started) / max(1, len(inputs))
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
                "seconds": seconds,
                "prompt_logprobs": prompt_logprobs,
            }
        )
    return results


def _data_parallel_worker(rank: int, gpus: str, llm_kwargs: dict, inputs: list, params: dict, queue) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus
    queue.put((rank, _generate(_new_llm(llm_kwargs), inputs, params)))


def shard_bounds(count: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous, near-equal ``[start, stop)`` ranges covering ``count`` items in ``shards`` parts."""
    base, extra = divmod(count, shards)
    bounds, start = [], 0
    for rank in range(shards):
        stop = start + base + (rank < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def _run_data_parallel(llm_kwargs: dict, size: int, inputs: list, params: dict) -> list[dict[str, Any]]:
    import multiprocessing as mp

    tp = llm_kwargs["tensor_parallel_size"]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(i) for i in range(size * tp)]
    if len(devices) < size * tp:
        raise ValueError(
            f"data_parallel_size={size} × tensor_parallel_size={tp} needs {size * tp} GPUs; "
            f"{len(devices)} are visible."
        )
    context = mp.get_context("spawn")
    queue = context.Queue()
    workers = []
    for rank, (start, stop) in enumerate(shard_bounds(len(inputs), size)):
        gpus = ",".join(devices[rank * tp : (rank + 1) * tp])
        worker = context.Process(
            target=_data_parallel_worker, args=(rank, gpus, llm_kwargs, inputs[start:stop], params, queue)
        )
        worker.start()
        workers.append(worker)
    parts = dict(queue.get() for _ in workers)
    for worker in workers:
        worker.join()
    return [result for rank in range(size) for result in parts[rank]]
