"""Re-save a committed fixture in transformers 5's fused expert layout.

transformers 5 keeps a layer's experts as two stacked tensors, `mlp.experts.gate_up_proj`
[E, 2I, H] (gate rows first) and `mlp.experts.down_proj` [E, H, I], with the router at
`mlp.gate.weight` for every family. `save_pretrained` converts back to one tensor per expert
unless called with `save_original_format=False`, which writes the fused layout; checkpoints from
other tools may use it too. This script writes that layout for the Mixtral fixture so the C++
loader can be tested against the per-expert original (their logits must be identical).

    python tools/make_fused_fixture.py     # writes tests/fixtures/mixtral_fused/
"""
import pathlib
import shutil

import torch
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "fixtures" / "mixtral"
TARGET = ROOT / "tests" / "fixtures" / "mixtral_fused"


def main() -> None:
    model = AutoModelForCausalLM.from_pretrained(SOURCE, dtype=torch.float32)
    if TARGET.exists():
        shutil.rmtree(TARGET)
    model.save_pretrained(TARGET, save_original_format=False)


if __name__ == "__main__":
    main()
