"""The PyTorch MLP classifier: 384 -> hidden -> ReLU -> dropout -> classes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class MlpShape:
    input_dim: int
    hidden: int
    n_classes: int
    dropout: float


def build(shape: MlpShape) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(shape.input_dim, shape.hidden), nn.ReLU(), nn.Dropout(shape.dropout),
        nn.Linear(shape.hidden, shape.n_classes))


class MlpClassifier:
    """Scikit-learn-like wrapper so the three classifiers share `predict_proba`."""

    def __init__(self, shape: MlpShape, net: nn.Sequential | None = None) -> None:
        self.shape = shape
        self.net = net if net is not None else build(shape)
        self.epochs_trained = 0

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int = 42, max_epochs: int = 200,
            patience: int = 12, validation: int = 0, fixed_epochs: int = 60) -> MlpClassifier:
        """Adam with early stopping on a stratified slice of `validation` records of `x`;
        with `validation=0` (too few records per class for one), `fixed_epochs` on all."""
        from sklearn.model_selection import train_test_split

        torch.manual_seed(seed)
        if not validation:
            for _ in self._train(x, y, fixed_epochs, seed):
                pass
            self.epochs_trained = fixed_epochs
            self.net.eval()
            return self
        x_fit, x_val, y_fit, y_val = train_test_split(
            x, y, test_size=validation, random_state=seed, stratify=y)
        xv, yv = torch.from_numpy(x_val), torch.from_numpy(y_val).long()
        loss_fn = nn.CrossEntropyLoss()
        best_loss, best_state, stale = float("inf"), None, 0
        for epoch, net in enumerate(self._train(x_fit, y_fit, max_epochs, seed)):
            with torch.no_grad():
                val_loss = float(loss_fn(net(xv), yv))
            if val_loss < best_loss - 1e-4:
                best_loss, stale, self.epochs_trained = val_loss, 0, epoch + 1
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= patience:
                    break
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.net.eval()
        return self

    def _train(self, x: np.ndarray, y: np.ndarray, epochs: int, seed: int
               ) -> Iterator[nn.Sequential]:
        """Train epoch by epoch, yielding the network in eval mode after each one."""
        xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, weight_decay=1e-4)
        loss_fn = nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            self.net.train()
            for idx in torch.randperm(len(xt), generator=generator).split(128):
                opt.zero_grad()
                loss_fn(self.net(xt[idx]), yt[idx]).backward()
                opt.step()
            self.net.eval()
            yield self.net

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            logits = self.net(torch.from_numpy(np.asarray(x, dtype=np.float32)))
            return torch.softmax(logits, dim=1).numpy()

    def save(self, path: Path) -> None:
        torch.save({"state_dict": self.net.state_dict(), "shape": vars(self.shape)}, path)

    @classmethod
    def load(cls, path: Path) -> MlpClassifier:
        blob: dict[str, Any] = torch.load(path, weights_only=True, map_location="cpu")
        shape = MlpShape(**blob["shape"])
        net = build(shape)
        net.load_state_dict(blob["state_dict"])
        net.eval()
        return cls(shape, net)
