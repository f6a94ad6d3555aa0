#!/usr/bin/python3
"""Converts a wengert checkpoint into a PyTorch state_dict.

    tools/h52torch.py IN.h5 OUT.pt

Writes torch.save(state_dict) with the checkpoint's names, shapes and
order, and prints the architecture, so that
tools/torch_models.build(**arch).load_state_dict(torch.load(OUT.pt))
recreates the model in PyTorch.
"""
import argparse
import sys
from collections import OrderedDict

import torch

from ckpt_format import read


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("out")
    a = p.parse_args()
    try:
        arch, state = read(a.checkpoint)
    except (ValueError, OSError, KeyError) as e:
        sys.exit(f"h52torch: {e}")
    sd = OrderedDict((k, torch.from_numpy(v.astype("float32"))) for k, v in state.items())
    torch.save(sd, a.out)
    print(f"wrote {a.out}: {arch}")


if __name__ == "__main__":
    main()
