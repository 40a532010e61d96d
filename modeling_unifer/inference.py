"""Inference, the one path: FER requests in, generations out of an engine, parsed into :class:`FERPrediction`.

Everything that runs a model on faces (``predict``, the model's ``.predict``, the pipeline, ``unifer eval``, the
Space and CoT curation) goes through :func:`generate_predictions` (batched) or :func:`stream_prediction`
(token by token); the response is parsed once, here, by :func:`to_prediction`. Engines are chosen by name
(:func:`load_engine`): ``transformers`` (:class:`TransformersEngine`, here), ``vllm`` (``unifer.vllm_engine``) and
``openai`` (``unifer.openai_engine``: any OpenAI-compatible server), the last two imported only when asked for, so
nothing here needs vLLM or the openai SDK.

This file doubles as Hub remote code (a saved model's ``predict`` runs it where ``unifer`` is not installed), and
remote code can only import sibling files relatively: hence one flat module with relative imports.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from threading import Thread
from typing import Any, Protocol

import torch

from . import modeling_unifer  # noqa: F401  (registers the unifer model type with the Auto classes)
from .answers import extract_label, is_well_formed, parse, reasoned_unasked
from .images import DEFAULT_IMAGE_SIZE, prepare_image
from .labels import CANONICAL_EMOTIONS, normalize, validate_candidates
from .prompts import REASONING_MAX_NEW_TOKENS, chat_messages, fer_question

#: Generation budget when none is given: room for reasoning, or just the answer block.
DEFAULT_MAX_NEW_TOKENS = {True: REASONING_MAX_NEW_TOKENS, False: 16}

#: A prediction's ``error`` when the answer-only prompt got reasoning (:func:`unifer.answers.reasoned_unasked`).
REASONED_UNASKED = (
    "asked for the answer only (reasoning=False), the model began reasoning ('<think>') and stopped{after} without "
    "an answer: this model always reasons; ask it with reasoning (reasoning=True; unifer eval without "
    "--no-reasoning)"
)


@dataclass(frozen=True)
class FERRequest:
    """One face and the question to ask about it. ``image`` is already prepared (RGB, resized); ``prompt`` is the
    item's own question when it has one (an RLVR problem, a benchmark row's prompt), else the FERBench question
    for ``candidate_labels`` is asked."""

    image: Any
    candidate_labels: tuple[str, ...]
    reasoning: bool = True
    system: str | None = None
    prompt: str | None = None

    @property
    def question(self) -> str:
        return self.prompt or fer_question(self.candidate_labels, reasoning=self.reasoning)

    def messages(self) -> list[dict[str, Any]]:
        return chat_messages(None, self.question, system=self.system)


@dataclass(frozen=True)
class Generation:
    """What an engine generated for one request. ``prompt_tokens``: the prompt's size where the engine reports it
    (a server's usage); ``error``: why there is no answer (a server's refusal, filter or failure), else None;
    ``token_ids``: the generated token ids where the engine has them (what candidates are scored after)."""

    text: str
    num_tokens: int
    seconds: float
    prompt_tokens: int | None = None
    error: str | None = None
    token_ids: tuple[int, ...] | None = None


@dataclass
class FERPrediction:
    """A prediction for one face.

    ``label`` is the strict parse of the answer (None when the answer names no single candidate);
    ``probabilities`` scores every candidate as the continuation of the model's own generated tokens up to where
    its answer begins (:func:`answer_continuations`), normalised over the candidates (empty when not asked for).
    ``num_tokens`` and ``seconds`` describe the generation (seconds: the batch's time per item);
    ``prompt_tokens`` and ``error`` are the :class:`Generation`'s.
    """

    label: str | None
    canonical_label: str | None
    reasoning: str | None
    raw_text: str
    well_formed: bool
    probabilities: dict[str, float] = field(default_factory=dict)
    num_tokens: int | None = None
    seconds: float | None = None
    prompt_tokens: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Engine(Protocol):
    """What an inference backend provides (``TransformersEngine``, ``VLLMEngine``, ``OpenAIEngine``)."""

    name: str

    def generate_batches(
        self, requests: Sequence[FERRequest], *, batch_size: int, max_new_tokens: int, **sampling: Any
    ) -> Iterator[list[tuple[int, Generation]]]:
        """Yield ``[(request index, Generation), …]`` as batches finish (in any order of requests)."""

    def score_candidates(
        self, requests: Sequence[FERRequest], responses: Sequence[Generation | str]
    ) -> list[dict[str, float]]:
        """Each request's candidate probabilities as the answer continuing its response (see
        :func:`answer_continuations`)."""


def make_requests(
    images: Sequence[Any],
    candidate_labels: Sequence[str],
    *,
    reasoning: bool = True,
    image_size: int | None = DEFAULT_IMAGE_SIZE,
    system: str | None = None,
    names: Sequence[str] | None = None,
) -> list[FERRequest]:
    """Prepare images (naming the failing item on bad input) and pair them with the question."""
    candidates = validate_candidates(candidate_labels)
    names = names or [f"image {i}" for i in range(len(images))]
    return [
        FERRequest(prepare_image(image, image_size, name=name), candidates, reasoning, system)
        for image, name in zip(images, names)
    ]


def to_prediction(
    request: FERRequest, text: str, probabilities: dict[str, float] | None = None, generation: Generation | None = None
) -> FERPrediction:
    """Parse one response (the only place responses are parsed at inference time)."""
    label = extract_label(text, request.candidate_labels)
    error = generation.error if generation else None
    if error is None and label is None and reasoned_unasked(text, request.reasoning):
        error = REASONED_UNASKED.format(after=f" after {generation.num_tokens} tokens" if generation else "")
    return FERPrediction(
        label=label,
        canonical_label=normalize(label) if label else None,
        reasoning=parse(text).think,
        raw_text=text,
        well_formed=is_well_formed(text, reasoning=request.reasoning),
        probabilities=probabilities or {},
        num_tokens=generation.num_tokens if generation else None,
        seconds=generation.seconds if generation else None,
        prompt_tokens=generation.prompt_tokens if generation else None,
        error=error,
    )


def generate_predictions(
    engine: Engine,
    requests: Sequence[FERRequest],
    *,
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    probabilities: bool = False,
    **sampling: Any,
) -> Iterator[list[tuple[int, FERPrediction]]]:
    """Generate, parse and (optionally) score every candidate, batch by batch: ``[(request index, prediction)]``.

    Batches come as the engine finishes them, so a caller can write each one to disk before the next starts."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 (got {batch_size}).")
    reasoning = all(request.reasoning for request in requests)
    max_new_tokens = max_new_tokens or DEFAULT_MAX_NEW_TOKENS[reasoning]
    for batch in engine.generate_batches(requests, batch_size=batch_size, max_new_tokens=max_new_tokens, **sampling):
        generations = [generation for _, generation in batch]
        scores = (
            engine.score_candidates([requests[i] for i, _ in batch], generations)
            if probabilities
            else [None] * len(batch)
        )
        yield [
            (i, to_prediction(requests[i], generation.text, probs, generation))
            for (i, generation), probs in zip(batch, scores)
        ]


def predict_with_engine(
    engine: Engine,
    images: Sequence[Any],
    candidate_labels: Sequence[str],
    *,
    reasoning: bool = True,
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    image_size: int | None = DEFAULT_IMAGE_SIZE,
    probabilities: bool = True,
    system: str | None = None,
) -> list[FERPrediction]:
    """Predictions for ``images`` in their order (see :func:`generate_predictions`)."""
    requests = make_requests(images, candidate_labels, reasoning=reasoning, image_size=image_size, system=system)
    results: list[FERPrediction | None] = [None] * len(requests)
    for batch in generate_predictions(
        engine, requests, batch_size=batch_size, max_new_tokens=max_new_tokens, probabilities=probabilities
    ):
        for i, prediction in batch:
            results[i] = prediction
    return results  # type: ignore[return-value]


def stream_prediction(
    engine: Any, request: FERRequest, *, max_new_tokens: int | None = None, probabilities: bool = True
) -> Iterator[tuple[str, FERPrediction | None]]:
    """Yield ``(text so far, None)`` while the response grows, then ``(text, prediction)`` once it is complete.

    ``engine`` must stream (``engine.stream(request, max_new_tokens)``, as ``TransformersEngine`` does: it yields
    the growing text and returns the :class:`Generation`, whose token ids the candidates are scored after)."""
    stream = engine.stream(request, max_new_tokens or DEFAULT_MAX_NEW_TOKENS[request.reasoning])
    text = ""
    while True:
        try:
            text = next(stream)
        except StopIteration as finished:
            generation = finished.value or Generation(text, 0, 0.0)
            break
        yield text, None
    scores = engine.score_candidates([request], [generation])[0] if probabilities else None
    yield generation.text, to_prediction(request, generation.text, scores, generation)


def set_cpu_threads(num_threads: int | None = None) -> int:
    """Set torch's CPU thread count for inference and return it: ``num_threads`` when given, else torch's own count
    when ``OMP_NUM_THREADS`` is set (torch read it at start), else half the CPUs this process may use (at least 1).

    torch's default, one thread per core, collapses when another process keeps a core busy: each operation waits at
    a barrier for the thread whose core was taken. Half a machine leaves room for a neighbour at a modest cost when
    it is idle (docs/performance.md, benchmarks/bench_threads.py). The count is per process.

    Example:
        >>> set_cpu_threads(1)
        1
    """
    import os

    if num_threads is None and os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    if num_threads is None:
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        num_threads = max(1, usable // 2)
    if num_threads < 1:
        raise ValueError(f"num_threads must be at least 1 (got {num_threads}).")
    torch.set_num_threads(num_threads)
    return num_threads


def resolve_dtype(dtype: str | None = "auto") -> str:
    """The weights dtype an engine loads for ``dtype`` (a name; None is ``auto``): ``auto`` is bfloat16 on a CUDA
    GPU and float32 elsewhere (a CPU, as the official evaluation ran), for every local backend alike; any other name
    is itself.

    Example:
        >>> resolve_dtype("float32")
        'float32'
    """
    if dtype not in (None, "auto"):
        return dtype
    return "bfloat16" if torch.cuda.is_available() else "float32"


@contextmanager
def weight_loading_bars_off() -> Iterator[None]:
    """transformers' own progress bars (its "Loading weights" at every load) off inside the block, unless unifer logs
    debugging detail (``-v``). Scoped through transformers' public tqdm hook, so the Hub's download bars, progress
    of long work, stay."""
    from transformers.utils.logging import set_tqdm_hook

    if logging.getLogger(__name__).isEnabledFor(logging.DEBUG):
        yield
        return
    previous = set_tqdm_hook(lambda factory, args, kwargs: factory(*args, **{**kwargs, "disable": True}))
    try:
        yield
    finally:
        set_tqdm_hook(previous)


class TransformersEngine:
    """Batched generation with transformers: left padding, batches of similar prompt length, greedy by default.

    ``model`` is a loaded model or a path/Hub id. On GPU the model loads in bf16 with ``device_map="auto"``
    (spreading a model too large for one GPU); on CPU in fp32; ``dtype`` (a torch dtype or its name, e.g.
    ``"float32"`` as the official evaluation ran) overrides that for a model loaded here. Attention is SDPA.
    A model loaded here onto the CPU sets torch's thread count by :func:`set_cpu_threads` (``num_threads``, else
    its policy); a model passed in loaded keeps the caller's threads unless ``num_threads`` is given.
    """

    name = "transformers"

    def __init__(
        self,
        model: Any,
        processor: Any = None,
        *,
        dtype: torch.dtype | str | None = None,
        device_map: str | dict | None = None,
        attn_implementation: str = "sdpa",
        trust_remote_code: bool = False,
        num_threads: int | None = None,
    ):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        loads = isinstance(model, (str, bytes)) or hasattr(model, "__fspath__")
        if loads:
            cuda = torch.cuda.is_available()
            dtype = getattr(torch, resolve_dtype(dtype)) if dtype is None or isinstance(dtype, str) else dtype
            with weight_loading_bars_off():
                model = AutoModelForImageTextToText.from_pretrained(
                    model,
                    dtype=dtype,
                    device_map=device_map or ("auto" if cuda else None),
                    attn_implementation=attn_implementation,
                    trust_remote_code=trust_remote_code,
                )
        self.model = model.eval()
        if num_threads is not None or (loads and self.model.device.type == "cpu"):
            set_cpu_threads(num_threads)
        self.processor = processor or AutoProcessor.from_pretrained(
            model.name_or_path, trust_remote_code=trust_remote_code
        )

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    def prompt_text(self, request: FERRequest) -> str:
        return self.processor.apply_chat_template(request.messages(), add_generation_prompt=True, tokenize=False)

    def _encode(self, texts: list[str], images: list[Any]) -> dict[str, torch.Tensor]:
        # Left padding per call (generation continues every row from its last token); the processor, which a
        # trainer may share, is left as it is.
        inputs = self.processor(text=texts, images=images, padding=True, padding_side="left", return_tensors="pt")
        return inputs.to(self.model.device)

    def generate_batches(
        self,
        requests: Sequence[FERRequest],
        *,
        batch_size: int = 8,
        max_new_tokens: int = REASONING_MAX_NEW_TOKENS,
        **generate_kwargs,
    ) -> Iterator[list[tuple[int, Generation]]]:
        """Yield ``[(request index, Generation), …]`` batch by batch; longest prompts first, so similar lengths
        share a batch (less padding) and an out-of-memory error shows at the start, not after an hour."""
        texts = [self.prompt_text(request) for request in requests]
        lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]]
        order = sorted(range(len(requests)), key=lambda i: (-lengths[i], i))
        settings = {"do_sample": False, "max_new_tokens": max_new_tokens, **generate_kwargs}
        if not settings["do_sample"]:
            # Greedy: clear the checkpoint's sampling defaults so transformers does not warn about them.
            settings.update(temperature=None, top_p=None, top_k=None)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            started = time.perf_counter()
            inputs = self._encode([texts[i] for i in batch], [requests[i].image for i in batch])
            with torch.inference_mode():
                output = self.model.generate(**inputs, **settings)
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            decoded = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            token_ids = [self._generated_ids(row) for row in new_tokens]
            seconds = (time.perf_counter() - started) / len(batch)
            yield [
                (i, Generation(text, len(ids), seconds, token_ids=ids))
                for i, text, ids in zip(batch, decoded, token_ids)
            ]

    def _generated_ids(self, row: torch.Tensor) -> tuple[int, ...]:
        """One row of generated ids without the padding that fills it after the model stopped."""
        return tuple(token for token in row.tolist() if token != self.tokenizer.pad_token_id)

    def generate(self, requests: Sequence[FERRequest], **kwargs) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)
        for batch in self.generate_batches(requests, **kwargs):
            for i, generation in batch:
                results[i] = generation
        return results  # type: ignore[return-value]

    def stream(self, request: FERRequest, max_new_tokens: int) -> Generator[str, None, Generation]:
        """Yield the response as it grows, token by token: ``generate`` runs in a thread feeding a text streamer;
        return the complete :class:`Generation` (its token ids are what candidates are scored after).
        Greedy, with the checkpoint's sampling defaults cleared (as in :meth:`generate_batches`)."""
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        inputs = self._encode([self.prompt_text(request)], [request.image])
        failures: list[Exception] = []
        outputs: list[torch.Tensor] = []
        started = time.perf_counter()

        def generate() -> None:
            try:
                with torch.inference_mode():  # thread-local: must be entered in the generating thread
                    output = self.model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=max_new_tokens,
                        do_sample=False,
                        temperature=None,
                        top_p=None,
                        top_k=None,
                    )
                outputs.append(output[0, inputs["input_ids"].shape[1] :])
            except Exception as err:  # re-raised in the caller; ending the stream keeps it from waiting forever
                failures.append(err)
                streamer.end()

        thread = Thread(target=generate, daemon=True)
        thread.start()
        text = ""
        for chunk in streamer:
            if chunk:  # the streamer also emits "" while a word is incomplete
                text += chunk
                yield text
        thread.join()
        if failures:
            raise failures[0]
        token_ids = self._generated_ids(outputs[0])
        return Generation(text, len(token_ids), time.perf_counter() - started, token_ids=token_ids)

    def score_candidates(
        self, requests: Sequence[FERRequest], responses: Sequence[Generation | str]
    ) -> list[dict[str, float]]:
        """Probability of each candidate as the answer continuing each response (:func:`answer_continuations`).

        Every (item, candidate) pair becomes one teacher-forced sequence: the prompt, the model's own generated ids
        up to where its answer begins, the candidate's continuation. A forward pass gives the continuation's
        log-likelihood, and a softmax over an item's candidates turns those into probabilities. Each item's
        candidates form one forward pass of their own, so an item's probabilities never depend on which other
        items were scored with it."""
        results = []
        for request, response in zip(requests, responses):
            answers = answer_continuations(self.tokenizer, response, request.candidate_labels)
            logprobs = self._continuation_logprobs(request, answers)
            results.append(softmax(dict(zip(request.candidate_labels, logprobs))))
        return results

    def _continuation_logprobs(self, request: FERRequest, answers: AnswerContinuations) -> list[float]:
        # The prompt is encoded with its image (placeholders expanded) exactly as for generation; the generated
        # context and each continuation are appended as ids, so every candidate follows the very same tokens.
        encoded = self._encode([self.prompt_text(request)], [request.image])
        head = encoded["input_ids"][0].tolist() + answers.context_ids
        sequences = [head + tail for tail in answers.continuations]
        width = max(map(len, sequences))
        pad = self.tokenizer.pad_token_id
        device = self.model.device
        input_ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=device)
        attention_mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=device)
        copies = len(sequences)
        with torch.inference_mode():
            logits = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                pixel_values=encoded["pixel_values"].to(self.model.dtype).repeat(copies, 1),
                image_grid_thw=encoded["image_grid_thw"].repeat(copies, 1),
            ).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = input_ids[:, 1:]
        token_logprobs = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return [
            token_logprobs[row, width - 1 - len(tail) :].sum().item() for row, tail in enumerate(answers.continuations)
        ]


_ANSWER_OPENING = re.compile(r"<answer>\s*", re.IGNORECASE)
_BEFORE_ANSWER_CLOSING = re.compile(r"(\s*)</answer>", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerContinuations:
    """A response cut where its answer begins. ``context_ids``: the model's own generated ids before that point;
    ``continuations``: for each candidate (in order), the ids the model would generate from there to the end of
    ``</answer>`` with that candidate as its answer."""

    context_ids: list[int]
    continuations: list[list[int]]


def answer_continuations(
    tokenizer: Any, response: Generation | str, candidate_labels: Sequence[str]
) -> AnswerContinuations:
    """The one definition of what an engine's ``score_candidates`` scores: each candidate as the continuation of
    the model's own generated token ids up to where its answer begins, tokenized as the model would generate it.

    The answer begins after the response's first ``<answer>`` tag and the white space the model put after it;
    a candidate replaces the model's answer text, keeping the white space the model put before ``</answer>``.
    A response without an answer block gets ``<answer>{candidate}</answer>`` after all it generated.
    The model's ids are kept up to the pre-token (the tokenizer's split before BPE) that the candidate starts
    in, and the rest is tokenized with the candidate: a model that generates ``'</' 'think' '><' 'answer'
    '>neutral'`` has each candidate scored as ``'>happiness'``, ``'>sadness'``… after ``'</' 'think' '><' 'answer'``
    (not as ``'<answer' '>happiness'`` glued after ``'</' 'think' '>'``, a sequence it never produces).

    Args:
        tokenizer: the model's tokenizer (a fast one gives the pre-token boundaries).
        response: a :class:`Generation` with ``token_ids`` (the model's own), or a text (its tokenization
            stands in for the ids then).
        candidate_labels: the candidates, in order.

    Returns:
        :class:`AnswerContinuations`: the shared context ids and one continuation per candidate.
    """
    ids = _response_ids(tokenizer, response)
    text = tokenizer.decode(ids, skip_special_tokens=True)
    opening = _ANSWER_OPENING.search(text)
    if opening:
        answer_start = opening.end()
        closing = _BEFORE_ANSWER_CLOSING.search(text, answer_start)
        spacing = closing.group(1) if closing else ""
        tails = [f"{label}{spacing}</answer>" for label in candidate_labels]
    else:
        answer_start = len(text)
        tails = [f"<answer>{label}</answer>" for label in candidate_labels]
    cut = min(_pre_token_start(tokenizer, text[:answer_start] + tail, answer_start) for tail in tails)
    kept, kept_text = _ids_up_to(tokenizer, ids, text, cut)
    rest = text[len(kept_text) : answer_start]
    continuations = [tokenizer(rest + tail, add_special_tokens=False)["input_ids"] for tail in tails]
    return AnswerContinuations(ids[:kept], [list(ids) for ids in continuations])


def _response_ids(tokenizer: Any, response: Generation | str) -> list[int]:
    """The generated ids up to the first special token (the end of the response)."""
    ids = getattr(response, "token_ids", None)
    if ids is None:
        text = response if isinstance(response, str) else response.text
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids)
    end = next((position for position, token in enumerate(ids) if token in special), len(ids))
    return list(ids[:end])


def _pre_token_start(tokenizer: Any, text: str, position: int) -> int:
    """Where the pre-token holding ``text[position]`` starts (``position`` without a fast tokenizer's
    pre-tokenizer): BPE never merges across pre-tokens, so the tokens before it are the same whatever follows."""
    pre_tokenizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "pre_tokenizer", None)
    if pre_tokenizer is None:
        return position
    for _, (start, end) in pre_tokenizer.pre_tokenize_str(text):
        if end > position:
            return min(start, position)
    return position


def _ids_up_to(tokenizer: Any, ids: list[int], text: str, cut: int) -> tuple[int, str]:
    """How many of ``ids`` decode to a prefix of ``text`` no longer than ``cut``, and that prefix."""
    low, high = 0, len(ids)
    while low < high:  # the most ids whose text fits (decoded length grows with the ids)
        middle = (low + high + 1) // 2
        if len(tokenizer.decode(ids[:middle], skip_special_tokens=True)) <= cut:
            low = middle
        else:
            high = middle - 1
    # A cut inside a multi-byte character decodes to a replacement character: step back to whole text.
    while not text.startswith(prefix := tokenizer.decode(ids[:low], skip_special_tokens=True)):
        low -= 1
    return low, prefix


def pixel_limits(image_processor: Any) -> tuple[int, int]:
    """A Qwen2.5-VL image processor's ``(min_pixels, max_pixels)``: what it resizes every image to lie between,
    from ``processor_config.json`` (``size``: ``shortest_edge``/``longest_edge``) or an older
    ``preprocessor_config.json`` (``min_pixels``/``max_pixels``), both read into ``size``."""
    size = image_processor.size
    return int(size["shortest_edge"]), int(size["longest_edge"])


def processed_image_size(image_processor: Any, image_size: int) -> list[int]:
    """``[height, width]`` in pixels of what ``image_processor`` makes of an ``image_size``×``image_size`` face
    (Qwen2.5-VL resizes within its :func:`pixel_limits`, so this may differ from ``image_size``): measured by
    processing one such image.

    Example: the quickstart model's processor (``max_pixels`` 3136) turns a 224 px face into ``[56, 56]``."""
    from PIL import Image

    blank = Image.new("RGB", (image_size, image_size))
    _, rows, columns = image_processor(images=[blank], return_tensors="pt")["image_grid_thw"][0].tolist()
    return [rows * image_processor.patch_size, columns * image_processor.patch_size]


def softmax(logprobs: dict[str, float]) -> dict[str, float]:
    """Normalise log-likelihoods over the candidates into probabilities (numerically stable)."""
    top = max(logprobs.values())
    weights = {label: math.exp(value - top) for label, value in logprobs.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


#: Engines by name, imported only when asked for (vLLM is an optional extra).
ENGINES = {
    "transformers": "unifer.inference:TransformersEngine",
    "vllm": "unifer.vllm_engine:VLLMEngine",
    "openai": "unifer.openai_engine:OpenAIEngine",
}


def load_engine(name: str, model: Any, **kwargs: Any) -> Engine:
    """An inference engine by name: ``transformers``, ``vllm`` or ``openai`` (any OpenAI-compatible server)."""
    import importlib

    try:
        module_name, class_name = ENGINES[name].split(":")
    except KeyError:
        raise ValueError(f"Unknown backend {name!r}; choose one of {', '.join(ENGINES)}.") from None
    if name == "transformers":  # this module, wherever it was imported from (remote code included)
        return TransformersEngine(model, **kwargs)
    return getattr(importlib.import_module(module_name), class_name)(model, **kwargs)


def predict(
    model: Any,
    images: Sequence[Any] | Any,
    candidate_labels: Sequence[str] | None = None,
    *,
    processor: Any = None,
    backend: str = "transformers",
    engine_kwargs: dict[str, Any] | None = None,
    detect_faces: bool = False,
    **kwargs: Any,
) -> list[FERPrediction] | list[Any]:
    """Predict the expression of one or more faces with a model (a loaded model or a path / Hub id).

    ``images``: PIL images, paths, bytes or numpy arrays (a single one is accepted too).
    ``candidate_labels``: defaults to the model config's ``candidate_labels``, else the 8 canonical emotions.
    ``engine_kwargs`` go to the engine (:func:`load_engine`), e.g. ``{"dtype": "float32"}``, or
    ``{"tensor_parallel_size": 2, "max_model_len": 4096}`` with ``backend="vllm"``, or
    ``{"base_url": "http://127.0.0.1:8000/v1"}`` with ``backend="openai"`` (``model`` is then the served name; an
    API engine gives no probabilities, so they default to off there).
    Other keyword arguments: see :func:`predict_with_engine`.

    ``detect_faces=True`` reads photos face by face (``unifer.faces.predict_faces``, which needs ``unifer[faces]``
    and takes ``boxes``, ``margin``, ``max_faces``, ``no_face``): a photo gives a list of ``FaceResult`` (one per
    face, with its box; ``[]`` when none is found), a list of photos a list of such lists.
    """
    single = not isinstance(images, (list, tuple))
    if single:
        images = [images]
    engine_kwargs = {**(engine_kwargs or {}), **({"processor": processor} if processor is not None else {})}
    engine = load_engine(backend, model, **engine_kwargs)
    if candidate_labels is None:
        config = getattr(getattr(engine, "model", None), "config", None)
        candidate_labels = getattr(config, "candidate_labels", None) or CANONICAL_EMOTIONS
    kwargs.setdefault("probabilities", getattr(engine, "scores_candidates", True))
    if detect_faces:  # imported by name: unifer.faces is not Hub remote code (a saved model's copy has no faces.py)
        import importlib

        predict_faces = importlib.import_module("unifer.faces").predict_faces
        kwargs.pop("batch_size", None)  # a photo's faces are one batch
        results = [predict_faces(engine, image, candidate_labels, **kwargs) for image in images]
        return results[0] if single else results
    return predict_with_engine(engine, images, candidate_labels, **kwargs)
