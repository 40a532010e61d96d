"""An engine for any OpenAI-compatible chat-completions server: OpenAI, Gemini's OpenAI endpoint, ``vllm serve``,
TGI, Inference Endpoints. Serve a model once, evaluate it from anywhere (docs/serving.md).

Everything HTTP (connections, timeouts, retries with exponential backoff, ``Retry-After``) is the official ``openai``
SDK's; this module only says what to ask and reads what came back. Same protocol as the local engines: the item's
own question, the face from :func:`unifer.images.prepare_image` sent as a PNG data URL, greedy (temperature 0) unless
sampling is asked for, the same token budget. A request the server answers with no usable text (refused, filtered,
empty, malformed, or still failing once the retries are spent) becomes a failed :class:`Generation` whose ``error``
says why; an evaluation records it, reports it and asks again when the run is resumed.
"""

from __future__ import annotations

import base64
import io
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from .configs import OPENAI_CONCURRENCY, OPENAI_MAX_RETRIES, OPENAI_REQUEST_TIMEOUT
from .inference import FERRequest, Generation
from .prompts import REASONING_MAX_NEW_TOKENS

#: The variable the key is read from unless another is named (the SDK's own default).
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

#: Status codes that mean the run itself is misconfigured (bad key, unknown model or route): asking about the next
#: item cannot go better, so the run stops with the server's message instead of failing every item.
_FATAL_STATUS = {401: "the API key was refused", 403: "access denied", 404: "no such model or route"}


T = TypeVar("T")
R = TypeVar("R")


def completed_in_threads(
    function: Callable[[T], R], inputs: Iterable[T], concurrency: int, *, name: str = "openai"
) -> Iterator[list[tuple[T, R]]]:
    """``function`` over ``inputs`` in ``concurrency`` threads: yields ``[(input, result), …]`` as calls complete.
    At most ``concurrency`` calls are in flight and the next input is drawn only when one completes, so memory stays
    flat and a consumer may stop drawing at once (curation's full classes); an exception from ``function`` is raised
    here. A stopped consumer or an exception leaves nothing queued behind it.

    Example:
        >>> sorted(pair for done in completed_in_threads(abs, [-2, 1, -3], 2) for pair in done)
        [(-3, 3), (-2, 2), (1, 1)]
    """
    inputs = iter(inputs)
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix=name)
    try:
        pending = {pool.submit(function, item): item for item in itertools.islice(inputs, concurrency)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            yield [(pending.pop(future), future.result()) for future in done]
            pending |= {pool.submit(function, item): item for item in itertools.islice(inputs, len(done))}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def image_data_url(image: Any) -> str:
    """A prepared face (a PIL image) inline as a PNG data URL: lossless, so the server sees the engines' pixels."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_request_messages(request: FERRequest) -> list[dict[str, Any]]:
    """The request as OpenAI chat messages: an optional system turn, then the face and the item's question."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": request.system}] if request.system else []
    content = [
        {"type": "image_url", "image_url": {"url": image_data_url(request.image)}},
        {"type": "text", "text": request.question},
    ]
    return [*messages, {"role": "user", "content": content}]


def make_client(
    base_url: str | None = None,
    *,
    api_key_env: str | None = None,
    request_timeout: float = OPENAI_REQUEST_TIMEOUT,
    max_retries: int = OPENAI_MAX_RETRIES,
):
    """An ``openai.OpenAI`` client for ``base_url`` (None: the SDK's default, ``OPENAI_BASE_URL`` or OpenAI's API).

    The key is read from ``api_key_env`` (default ``OPENAI_API_KEY``). A variable named explicitly must be set; when
    the default one is unset the placeholder ``"EMPTY"`` is sent, which servers without keys (``vllm serve``) accept
    and OpenAI refuses with a clear 401. ``max_retries`` and ``request_timeout`` (seconds per attempt) are the SDK's.
    """
    import openai

    key = os.environ.get(api_key_env or DEFAULT_API_KEY_ENV)
    if not key and api_key_env:
        raise ValueError(f"--api-key-env {api_key_env}: that environment variable is not set.")
    return openai.OpenAI(base_url=base_url, api_key=key or "EMPTY", timeout=request_timeout, max_retries=max_retries)


def request_failure(err: Exception, attempts: int) -> str:
    """Why a request got no reply (an ``openai.APIError`` or a ValueError from reading the reply), in one line;
    raises instead for errors that doom every request (see ``_FATAL_STATUS``). ``attempts``: how many times the SDK
    tried (retries + 1)."""
    import openai

    if isinstance(err, openai.APIStatusError):
        reason = _FATAL_STATUS.get(err.status_code)
        if reason:
            raise RuntimeError(f"{err.request.url}: HTTP {err.status_code}, {reason}: {err.message}") from err
        retried = err.status_code in (408, 409, 429) or err.status_code >= 500
        tried = f" after {attempts} attempts" if retried else ""
        return f"HTTP {err.status_code}{tried}: {err.message}"[:500]
    if isinstance(err, openai.APITimeoutError):
        return f"timed out after {attempts} attempts"
    if isinstance(err, openai.APIConnectionError):
        return f"connection failed after {attempts} attempts: {err.__cause__ or err}"[:500]
    # A 200 whose body is not a chat completion (invalid JSON, another shape): the SDK does not retry it.
    return f"malformed reply ({type(err).__name__}: {err})"[:500]


def choice_text(choice: Any) -> tuple[str, str | None]:
    """A choice's text and, when it is no answer, why: refused, content-filtered or empty."""
    message = getattr(choice, "message", None)
    text = (getattr(message, "content", None) or "") if message is not None else ""
    refusal = getattr(message, "refusal", None) if message is not None else None
    if refusal:
        return text, f"refused: {refusal}"[:500]
    if getattr(choice, "finish_reason", None) == "content_filter":
        return text, "content_filter: the server's content filter stopped the reply"
    if not text.strip():
        return text, f"empty reply (finish_reason {getattr(choice, 'finish_reason', None)!r})"
    return text, None


def completion_choices(completion: Any) -> list[Any]:
    """The choices of a reply; a reply that is not a chat completion (the SDK returns the text of a non-JSON body,
    and an object without ``choices`` for JSON of another shape) raises ValueError."""
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise ValueError(f"no choices in the reply: {str(completion)[:200]!r}")
    return choices


class OpenAIEngine:
    """Generation through an OpenAI-compatible server, ``concurrency`` requests in flight (a thread pool sharing
    one SDK client).

    Args:
        model: the served model's name (``gpt-4o``, ``gemini-2.5-flash``, the name ``vllm serve`` was given).
        base_url: the server's ``…/v1`` URL (None: ``OPENAI_BASE_URL``, else OpenAI).
        api_key_env: the environment variable holding the key (default ``OPENAI_API_KEY``).
        concurrency: requests in flight at once.
        request_timeout: seconds per attempt before the SDK gives up on it (and retries).
        max_retries: the SDK's retries per request (429, 408/409, 5xx, timeouts, dropped connections) with
            exponential backoff, honouring the server's ``Retry-After``.

    Example:
        >>> engine = OpenAIEngine("tiny", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
        >>> predict_with_engine(engine, [face], ["happy", "sad"], probabilities=False)  # doctest: +SKIP
    """

    name = "openai"
    #: A chat API returns text, not the teacher-forced likelihoods candidate probabilities need.
    scores_candidates = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        concurrency: int = OPENAI_CONCURRENCY,
        request_timeout: float = OPENAI_REQUEST_TIMEOUT,
        max_retries: int = OPENAI_MAX_RETRIES,
        client: Any = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (got {concurrency}).")
        self.model = str(model)
        self.concurrency, self.max_retries = concurrency, max_retries
        self.client = client or make_client(
            base_url, api_key_env=api_key_env, request_timeout=request_timeout, max_retries=max_retries
        )
        # Evaluation prepares this many images at a time: enough to keep every request slot busy.
        self.preferred_chunk_size = max(64, 4 * concurrency)

    def generate_batches(
        self,
        requests: Sequence[FERRequest],
        *,
        batch_size: int = 8,
        max_new_tokens: int = REASONING_MAX_NEW_TOKENS,
        **sampling: Any,
    ) -> Iterator[list[tuple[int, Generation]]]:
        """Yield ``[(request index, Generation), …]`` as replies arrive (``batch_size`` is not used: the server
        batches). Greedy unless ``sampling`` sets ``temperature`` (``top_p``, ``seed`` pass through; ``do_sample``,
        a local engines' switch, is dropped)."""
        sampling = {"temperature": 0.0, **{k: v for k, v in sampling.items() if k != "do_sample"}}

        def ask(i: int) -> Generation:
            return self._generate(requests[i], max_new_tokens, sampling)

        yield from completed_in_threads(ask, range(len(requests)), self.concurrency, name="openai-engine")

    def _generate(self, request: FERRequest, max_new_tokens: int, sampling: dict[str, Any]) -> Generation:
        import openai

        started = time.perf_counter()
        try:
            completion = self.client.chat.completions.create(
                model=self.model, messages=chat_request_messages(request), max_tokens=max_new_tokens, **sampling
            )
            text, error = choice_text(completion_choices(completion)[0])
        except (openai.APIError, ValueError) as err:  # that item's failure (request_failure re-raises fatal ones)
            return Generation("", 0, time.perf_counter() - started, error=request_failure(err, self.max_retries + 1))
        usage = getattr(completion, "usage", None)
        return Generation(
            text,
            getattr(usage, "completion_tokens", None) or 0,
            time.perf_counter() - started,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            error=error,
        )

    def score_candidates(self, requests: Sequence[FERRequest], responses: Sequence[str]) -> list[dict[str, float]]:
        raise ValueError(
            "Candidate probabilities need a local engine (--backend transformers or vllm): a chat API returns text, "
            "not the likelihood of each answer. Leave out --probabilities for --backend openai."
        )
