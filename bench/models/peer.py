#!/usr/bin/python3
"""PyTorch peer of bench/models/run.ts: the MNIST peer's Net (mnist_dml.py, copied verbatim below)
timed on the same work. Usage: peer.py <batch> <forward reps> <train reps>; prints one JSON line."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, dim=128):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc = nn.Linear(64 * 5 * 5, dim)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.fc(torch.flatten(x, 1))
        return F.normalize(x, p=2, dim=1)


def median_ms(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[len(times) // 2]


batch, fwd_reps, train_reps = (int(a) for a in sys.argv[1:4])
torch.set_num_threads(2)
torch.manual_seed(0)
net = Net()
x = torch.randn(batch, 1, 28, 28)
opt = torch.optim.Adam(net.parameters(), lr=1e-4)


def forward():
    with torch.no_grad():
        net(x)


def train_step():
    e = net(x)
    loss = (e @ e.t()).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


print(json.dumps({"forward_ms": median_ms(forward, fwd_reps), "train_ms": median_ms(train_step, train_reps),
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
