"""W&B's PyTorch MNIST example (wandb/examples: pytorch/pytorch-cnn-mnist), made tiny: 8x8
synthetic images instead of MNIST downloads, a two-layer net, two epochs, on the CPU.

As in the original, the parsed arguments become the config right after ``wandb.init``
(``wandb.config.update(args)``), and the trained weights are kept with ``wandb.save``.
"""

import argparse

import torch
import torch.nn.functional as F
import wandb
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x.flatten(1)))
        return F.log_softmax(self.fc2(x), dim=1)


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            wandb.log({"loss": loss.item()})


def test(args, model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.max(1, keepdim=True)[1]
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    wandb.log({"Test Accuracy": 100.0 * correct / len(test_loader.dataset), "Test Loss": test_loss})


def synthetic(n, generator):
    images = torch.rand(n, 1, 8, 8, generator=generator)
    labels = (images.mean(dim=(1, 2, 3)) * 20).long().clamp(0, 9)
    return TensorDataset(images, labels)


def main():
    parser = argparse.ArgumentParser(description="PyTorch MNIST Example")
    parser.add_argument("--batch-size", type=int, default=16, metavar="N")
    parser.add_argument("--test-batch-size", type=int, default=64, metavar="N")
    parser.add_argument("--epochs", type=int, default=2, metavar="N")
    parser.add_argument("--lr", type=float, default=0.05, metavar="LR")
    parser.add_argument("--momentum", type=float, default=0.5, metavar="M")
    parser.add_argument("--seed", type=int, default=1, metavar="S")
    parser.add_argument("--log-interval", type=int, default=2, metavar="N")
    args = parser.parse_args()

    wandb.init(project="wandb-example-mnist")
    wandb.config.update(args)  # adds all of the arguments as config variables

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    device = torch.device("cpu")
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(
        synthetic(128, generator), batch_size=args.batch_size, shuffle=True, generator=generator
    )
    test_loader = DataLoader(synthetic(64, generator), batch_size=args.test_batch_size)

    model = Net().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    wandb.watch(model, log="all")

    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        test(args, model, device, test_loader)

    torch.save(model.state_dict(), "mnist_cnn.pt")
    wandb.save("mnist_cnn.pt")


if __name__ == "__main__":
    main()
