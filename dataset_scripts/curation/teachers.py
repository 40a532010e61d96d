"""Teachers: an OpenAI-compatible endpoint (``EndpointTeacher``, with retries and backoff) or a local model through
the one inference path (``EngineTeacher``), chosen by ``make_teacher``.

Both have ``run(items)``, which yields ``(item, texts, error)`` per item as it completes: texts are its K
samples, or None (with the error message) when the teacher gave no answer.
"""

from __future__ import annotations

import base64
import io
import itertools
import os
import random
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

from unifer.images import ImageInputError, prepare_image

from .items import Item
from .settings import Settings

_MAX_BACKOFF = 60.0

#: What a teacher yields per item: (item, its K texts or None, the error message or None).
Answer = tuple[Item, list[str] | None, str | None]


class TeacherError(RuntimeError):
    """The teacher gave no answer for an item (retries exhausted or a non-retryable reply)."""


def png_data_url(image: Any, size: int) -> str:
    """The face prepared as the engines prepare it, inline as a PNG data URL."""
    buffer = io.BytesIO()
    prepare_image(image, size).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def backoff_delay(attempt: int, base: float, retry_after: str | None = None) -> float:
    """Exponential backoff with jitter (so parallel clients do not retry in lockstep); a server's numeric
    ``Retry-After`` is a floor."""
    delay = min(_MAX_BACKOFF, base * 2**attempt) * random.uniform(0.5, 1.0)
    try:
        return max(delay, min(_MAX_BACKOFF, float(retry_after))) if retry_after else delay
    except ValueError:  # an HTTP date: the exponential delay will do
        return delay


class EndpointTeacher:
    """An OpenAI-compatible ``/chat/completions`` endpoint. One request per item asks for all K samples (``n``);
    a server that returns fewer choices is asked again for the rest."""

    def __init__(self, url: str, settings: Settings, api_key: str | None = None):
        import httpx

        self.url, self.settings = url.rstrip("/"), settings
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=settings.timeout, headers=headers)
        self.model = settings.model_name or self._served_model()

    def _served_model(self) -> str:
        try:
            response = self.client.get(f"{self.url}/models")
            response.raise_for_status()
            return response.json()["data"][0]["id"]
        except Exception as err:  # any failure means the same thing: we cannot guess the name
            raise ValueError(
                f"Could not list the models served at {self.url}/models ({err}); give --model-name."
            ) from None

    def run(self, items: Iterable[Item]) -> Iterator[Answer]:
        """At most ``concurrency`` items in flight; the next is taken only when one completes, so memory stays
        flat and a class found full (``max_per_class``) stops being sampled at once."""
        items = iter(items)
        try:
            with ThreadPoolExecutor(self.settings.concurrency) as pool:
                pending = {
                    pool.submit(self._answer, item) for item in itertools.islice(items, self.settings.concurrency)
                }
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                    pending |= {pool.submit(self._answer, item) for item in itertools.islice(items, len(done))}
        finally:
            self.client.close()

    def _answer(self, item: Item) -> Answer:
        try:
            return item, self.sample(item), None
        except (TeacherError, ImageInputError) as err:
            return item, None, str(err)

    def sample(self, item: Item) -> list[str]:
        """The item's K texts, asked for in as few requests as the server allows."""
        s = self.settings
        content = [
            {"type": "image_url", "image_url": {"url": png_data_url(item.image, s.image_size)}},
            {"type": "text", "text": item.question},
        ]
        payload = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_new_tokens,
        }
        texts: list[str] = []
        while len(texts) < s.samples_per_item:
            wanted = s.samples_per_item - len(texts)
            choices = self._post({**payload, "n": wanted})[:wanted]
            texts += [(choice.get("message") or {}).get("content") or "" for choice in choices]
        return texts

    def _post(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """The response's choices (at least one); retries timeouts, connection errors, 429 and 5xx."""
        import httpx

        for attempt in range(self.settings.retries + 1):
            retry_after = None
            try:
                response = self.client.post(f"{self.url}/chat/completions", json=payload)
            except httpx.RequestError as err:  # timeouts, refused or dropped connections, garbled replies
                failure = f"{type(err).__name__}: {err}"
            else:
                if response.status_code == 200:
                    choices = _choices(response)
                    if choices:
                        return choices
                    failure = f"a reply without choices: {response.text[:200]!r}"
                elif response.status_code == 429 or response.status_code >= 500:
                    failure, retry_after = (
                        f"HTTP {response.status_code}: {response.text[:200]}",
                        response.headers.get("retry-after"),
                    )
                else:  # a bad request stays bad: retrying cannot help
                    raise TeacherError(f"HTTP {response.status_code}: {response.text[:200]}")
            if attempt < self.settings.retries:
                time.sleep(backoff_delay(attempt, self.settings.backoff, retry_after))
        raise TeacherError(f"no answer after {self.settings.retries + 1} attempts; last: {failure}")


def _choices(response) -> list[dict[str, Any]]:
    try:
        choices = response.json().get("choices")
    except (ValueError, AttributeError):
        return []
    return choices if isinstance(choices, list) else []


class EngineTeacher:
    """A local model through ``unifer.inference.generate_predictions``: each batch holds ``concurrency`` items × K
    sampled copies of their request, which asks the item's own question."""

    def __init__(self, engine: Any, settings: Settings):
        self.engine, self.settings = engine, settings
        self.sampling = {"temperature": settings.temperature, "top_p": settings.top_p}
        if getattr(engine, "name", "") == "transformers":
            self.sampling["do_sample"] = True  # vLLM samples whenever temperature > 0

    def run(self, items: Iterable[Item]) -> Iterator[Answer]:
        items = iter(items)
        while chunk := list(itertools.islice(items, self.settings.concurrency)):
            yield from self._generate(chunk)

    def _generate(self, chunk: list[Item]) -> list[Answer]:
        from unifer.inference import FERRequest, generate_predictions

        k, results, requests, ready = self.settings.samples_per_item, [], [], []
        for item in chunk:
            try:
                image = prepare_image(item.image, self.settings.image_size, name=f"item {item.position}")
            except ImageInputError as err:
                results.append((item, None, str(err)))
                continue
            ready.append(item)
            requests += [FERRequest(image=image, candidate_labels=item.candidates, prompt=item.question)] * k
        if requests:
            texts: list[str] = [""] * len(requests)
            for batch in generate_predictions(
                self.engine,
                requests,
                batch_size=len(requests),
                max_new_tokens=self.settings.max_new_tokens,
                **self.sampling,
            ):
                for i, prediction in batch:
                    texts[i] = prediction.raw_text
            results += [(item, texts[i * k : (i + 1) * k], None) for i, item in enumerate(ready)]
        return results


def make_teacher(teacher: str, settings: Settings) -> EndpointTeacher | EngineTeacher:
    """An endpoint for an ``http(s)://`` URL, else a local model loaded by ``settings.backend``."""
    if teacher.startswith(("http://", "https://")):
        api_key = None
        if settings.api_key_env:
            api_key = os.environ.get(settings.api_key_env)
            if not api_key:
                raise ValueError(f"--api-key-env {settings.api_key_env}: that environment variable is not set.")
        return EndpointTeacher(teacher, settings, api_key)
    from unifer.inference import load_engine

    if settings.backend == "vllm":
        return EngineTeacher(load_engine("vllm", teacher, seed=settings.seed), settings)
    import torch

    torch.manual_seed(settings.seed)
    return EngineTeacher(load_engine(settings.backend, teacher), settings)
