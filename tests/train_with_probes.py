"""``unifer train`` with test probes, for tests/test_training_processes.py (run as a script, alone or under
``accelerate launch``): ``python tests/train_with_probes.py sft|grpo --config RECIPE [--key value ...]``.

Probes, switched on by environment variables so the recipe's own arguments pass through untouched:

* ``UNIFER_PROBE_HASH_DIR``: before training (step 0) and after every optimizer step each process writes the
  SHA-256 of its parameters (names, dtypes and raw bytes) to ``rank<R>-step<S>.sha256`` there;
* ``UNIFER_PROBE_KILL_AFTER_SAVE=N``: the process SIGKILLs itself as soon as checkpoint ``N`` is on disk.

It also registers the reward ``probe_length`` (text length / 100): it varies across a random model's completions,
so GRPO advantages, and with them the update, are non-zero.
"""

import hashlib
import os
import signal
import sys
from pathlib import Path

import torch
from transformers import TrainerCallback

from unifer.trainers.rewards import REWARD_FUNCS, completion_text
from unifer.trainers.train import cli_main


def probe_length_reward(completions, **kwargs):
    return [len(completion_text(completion)) / 100 for completion in completions]


def parameter_digest(model) -> str:
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        tensor = param.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class ParameterHashes(TrainerCallback):
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, args, state, model) -> None:
        path = self.folder / f"rank{args.process_index}-step{state.global_step}.sha256"
        path.write_text(parameter_digest(model))

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.write(args, state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.write(args, state, model)


class KillAfterSave(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def run(argv: list[str]) -> int:
    REWARD_FUNCS["probe_length"] = probe_length_reward
    callbacks = []
    if os.environ.get("UNIFER_PROBE_HASH_DIR"):
        callbacks.append(ParameterHashes(Path(os.environ["UNIFER_PROBE_HASH_DIR"])))
    if os.environ.get("UNIFER_PROBE_KILL_AFTER_SAVE"):
        callbacks.append(KillAfterSave(int(os.environ["UNIFER_PROBE_KILL_AFTER_SAVE"])))
    return cli_main(argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
