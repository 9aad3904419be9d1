"""A PyTorch training loop on CPU (a small MLP classifying two interleaved spirals), logging
loss, accuracy and gradient norm per step and validation accuracy per epoch; Cancel stops it.

    python examples/pytorch_train.py --epochs 20
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import runwatch


def spirals(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of two interleaved spirals with a little noise, and their 0/1 labels."""
    t = torch.rand(n, generator=generator) * 3 * math.pi
    label = torch.randint(0, 2, (n,), generator=generator)
    sign = label.float() * 2 - 1
    x = torch.stack([sign * t * torch.cos(t), sign * t * torch.sin(t)], dim=1) / 10
    return x + torch.randn(n, 2, generator=generator) * 0.03, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x_train, y_train = spirals(2048, generator)
    x_val, y_val = spirals(512, generator)
    model = nn.Sequential(nn.Linear(2, args.hidden), nn.Tanh(), nn.Linear(args.hidden, args.hidden),
                          nn.Tanh(), nn.Linear(args.hidden, 2))  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    step = 0
    with runwatch.init(project="pytorch", name="spirals-mlp", config=vars(args)) as run:
        for epoch in range(args.epochs):
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            for start in range(0, len(order), args.batch_size):
                idx = order[start : start + args.batch_size]
                logits = model(x_train[idx])
                loss = loss_fn(logits, y_train[idx])
                optimizer.zero_grad()
                loss.backward()
                grad_norm = nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                optimizer.step()
                acc = (logits.argmax(1) == y_train[idx]).float().mean()
                # Tensors go in as they are: log() takes anything float() takes.
                run.log({"train/loss": loss, "train/acc": acc, "grad_norm": grad_norm}, step=step)
                step += 1
            model.eval()
            with torch.no_grad():
                val_acc = (model(x_val).argmax(1) == y_val).float().mean().item()
            run.log({"val/acc": val_acc, "epoch": epoch}, step=step - 1, vital=True)
            run.event("epoch.end", entity=epoch, val_acc=round(val_acc, 4))
            if run.should_stop:
                break


if __name__ == "__main__":
    main()
