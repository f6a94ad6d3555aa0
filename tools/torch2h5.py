#!/usr/bin/python3
"""Converts a PyTorch state_dict into a wengert checkpoint.

    tools/torch2h5.py MODEL.pt OUT.h5 --arch lenet5|mlp|autoencoder|softmax
                      [--activation sigmoid|tanh|relu]

MODEL.pt is what torch.save(model.state_dict(), ...) wrote for the PyTorch
twin of the model (tools/torch_models.py: the same attribute names). Sizes
are read from the tensors' shapes; --activation names the MLP's hidden
activation, which a state_dict does not record. The checkpoint can then be
evaluated or fine-tuned in C (examples/evaluate, examples/finetune).
"""
import argparse
import sys

import torch

from ckpt_format import architecture, write


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a saved state_dict (.pt)")
    p.add_argument("out", help="the checkpoint to write (.h5)")
    p.add_argument("--arch", required=True, choices=["lenet5", "mlp", "autoencoder", "softmax"])
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh", "relu"])
    a = p.parse_args()
    state = torch.load(a.model, map_location="cpu")
    if not isinstance(state, dict):
        sys.exit(f"torch2h5: {a.model} holds a {type(state).__name__}, not a state_dict")
    state = {k: v.detach().numpy() for k, v in state.items()}
    try:
        arch = architecture(a.arch, state, a.activation)
        write(a.out, arch, state, f"tools/torch2h5.py (torch {torch.__version__})")
    except ValueError as e:
        sys.exit(f"torch2h5: {a.model}: {e}")
    print(f"wrote {a.out}: {arch}")


if __name__ == "__main__":
    main()
