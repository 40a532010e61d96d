"""Teachers: an OpenAI-compatible endpoint (``EndpointTeacher``) or a local model through the one inference path
(``EngineTeacher``), chosen by ``make_teacher``.

The endpoint is reached through the openai SDK as ``unifer eval --backend openai`` reaches it
(:mod:`unifer.openai_engine`: the same client, messages and failure reasons); its retries, exponential backoff and
``Retry-After`` handling are the SDK's. Both teachers have ``run(items)``, which yields ``(item, texts, error)`` per
item as it completes: texts are its K samples, or None (with the error message) when the teacher gave no answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from unifer.data.configs import Settings
from unifer.images import ImageInputError, prepare_image

from .items import Item

#: What a teacher yields per item: (item, its K texts or None, the error message or None).
Answer = tuple[Item, list[str] | None, str | None]


class EndpointTeacher:
    """An OpenAI-compatible ``/chat/completions`` endpoint. One request per item asks for all K samples (``n``);
    a server that returns fewer choices is asked again for the rest. A refused or empty choice is an empty text
    (rejected as malformed downstream); a request that fails once the SDK's retries are spent fails the item."""

    def __init__(self, url: str, settings: Settings, api_key_env: str | None = None):
        from unifer.openai_engine import make_client

        self.url, self.settings = url.rstrip("/"), settings
        self.client = make_client(
            self.url, api_key_env=api_key_env, request_timeout=settings.timeout, max_retries=settings.retries
        )
        self.model = settings.model_name or self._served_model()

    def _served_model(self) -> str:
        try:
            return self.client.models.list().data[0].id
        except Exception as err:  # any failure means the same thing: we cannot guess the name
            raise ValueError(
                f"Could not list the models served at {self.url}/models ({err}); give --model-name."
            ) from None

    def run(self, items: Iterable[Item]) -> Iterator[Answer]:
        """At most ``concurrency`` items in flight; the next is taken only when one completes, so memory stays
        flat and a class found full (``max_per_class``) stops being sampled at once."""
        from unifer.openai_engine import completed_in_threads

        try:
            for done in completed_in_threads(self._answer, items, self.settings.concurrency, name="teacher"):
                yield from (answer for _item, answer in done)
        finally:
            self.client.close()

    def _answer(self, item: Item) -> Answer:
        import openai

        from unifer.openai_engine import request_failure

        try:
            return item, self.sample(item), None
        except ImageInputError as err:
            return item, None, str(err)
        except (openai.APIError, ValueError) as err:
            return item, None, request_failure(err, self.settings.retries + 1)

    def sample(self, item: Item) -> list[str]:
        """The item's K texts, asked for in as few requests as the server allows."""
        from unifer.inference import FERRequest
        from unifer.openai_engine import chat_request_messages, choice_text, completion_choices

        s = self.settings
        image = prepare_image(item.image, s.image_size, name=f"item {item.position}")
        messages = chat_request_messages(FERRequest(image, item.candidates, prompt=item.question))
        texts: list[str] = []
        while len(texts) < s.samples_per_item:
            wanted = s.samples_per_item - len(texts)
            completion = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_new_tokens,
                n=wanted,
            )
            texts += [choice_text(choice)[0] for choice in completion_choices(completion)[:wanted]]
        return texts


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
        return EndpointTeacher(teacher, settings, settings.api_key_env)
    from unifer.inference import load_engine

    if settings.backend == "vllm":
        return EngineTeacher(load_engine("vllm", teacher, seed=settings.seed), settings)
    import torch

    torch.manual_seed(settings.seed)
    return EngineTeacher(load_engine(settings.backend, teacher), settings)
