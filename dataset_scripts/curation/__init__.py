"""CoT curation: a teacher answers RLVR items K times; only well-formed, right answers become SFT data.

This is how UniFER-CoT-230K was made from labelled faces: rejection sampling against the known label.

* Teacher (``teachers``): a local model through ``unifer.inference`` (``transformers`` or ``vllm`` engines), or an
  OpenAI-compatible chat endpoint (``vllm serve``) given by URL; the face is sent inline as a PNG data URL,
  prepared by ``images.prepare_image``.
* Verdict per sample (``selection.judge``): ``malformed`` (not ``<think>…</think><answer>…</answer>``),
  ``unparsable`` (the answer names no single candidate, ``answers.extract_label`` strict), ``wrong_label``,
  ``error`` (the teacher never answered), or accepted. Accepted samples may then be dropped as ``duplicate``
  (near-identical reasoning within an item) or ``over_cap`` (per-item or per-class caps) by ``selection.select``.
* Resumable (``ledger``): ``samples.jsonl`` is an append-only ledger (``unifer.jsonl``), one line per teacher
  sample, written item by item. A restart keeps the items whose K lines are all there and error-free, drops the
  rest (a torn last line included) and samples those again; the final selection reads only the ledger, so caps
  and dedup may change between runs.
* Output (``report``): ``cot/train-*.parquet`` (``cot_rlvr.COT_FEATURES``, what the SFT trainer reads),
  ``README.md`` (card), ``report.json`` and ``report.md``.

The knobs are ``unifer.data.configs.Settings``; ``unifer data curate-cot`` parses them with its input, teacher and
output as ``configs.CurateCotConfig``.
"""

from unifer.data.configs import Settings

from .curate import curate_cot
from .items import stratified_order
from .report import format_rate
from .selection import REASONS

__all__ = ["REASONS", "Settings", "curate_cot", "format_rate", "stratified_order"]
