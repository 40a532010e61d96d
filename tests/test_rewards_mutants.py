"""unifer.trainers.rewards: the behaviours the mutation benchmark (benchmarks/mutation.py) found untested."""

import json

from unifer.trainers.rewards import accuracy_reward, completion_text


def test_only_text_blocks_of_a_conversational_completion_are_read():
    """Blocks of other types ("input_text" sorts before "text", "thinking" after) carry no answer; the completion
    comes from JSON, as it does from a dataset, so its "text" is not the literal interned in the code."""
    completion = json.loads(
        json.dumps(
            [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "input_text", "text": "<answer>sadness</answer>"},
                        {"type": "text", "text": "<think>Lips up.</think>"},
                        {"type": "thinking", "text": "<answer>anger</answer>"},
                        {"type": "text", "text": "<answer>happiness</answer>"},
                    ],
                }
            ]
        )
    )
    assert completion_text(completion) == "<think>Lips up.</think><answer>happiness</answer>"
    assert accuracy_reward([completion], solution=["happiness"]) == [1.0]


def test_a_wrong_label_earns_nothing_whichever_way_it_sorts():
    """ "anger" sorts before "happiness" and "surprise" after it: both are simply wrong."""
    completions = ["<think>x</think><answer>anger</answer>", "<think>x</think><answer>surprise</answer>"]
    assert accuracy_reward(completions, solution=["happiness", "happiness"]) == [0.0, 0.0]
