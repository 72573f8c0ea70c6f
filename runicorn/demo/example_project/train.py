"""A tiny training script: the code Runicorn's demo snapshots into every run."""

from model.mlp import MLP


def train(epochs: int, lr: float) -> list[float]:
    model = MLP(hidden=128)
    return [model.step(lr, epoch) for epoch in range(epochs)]


if __name__ == "__main__":
    print(train(epochs=5, lr=0.01))
