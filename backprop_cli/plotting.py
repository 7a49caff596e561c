"""Pictures of training histories. matplotlib is imported here only, when a picture is drawn."""

from __future__ import annotations

from pathlib import Path

from .atomic import write_with


def plot_history(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Loss curves (train and validation, log scale when they span a wide range) and, for
    classification, accuracy curves; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    has_acc = any("train_accuracy" in r for r in history)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(11 if has_acc else 6, 4))
    ax_loss = axes[0] if has_acc else axes
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [r.get(key) for r in history]
        if any(v is not None for v in values):
            ax_loss.plot(epochs, values, marker="." if len(epochs) < 40 else None, label=label)
    losses = [v for r in history for k in ("train_loss", "val_loss") if (v := r.get(k))]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 30:
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title(f"{title} loss".strip())
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    if has_acc:
        ax_acc = axes[1]
        for key, label in (("train_accuracy", "train"), ("val_accuracy", "validation")):
            values = [r.get(key) for r in history]
            if any(v is not None for v in values):
                ax_acc.plot(epochs, values, label=label)
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("accuracy")
        ax_acc.set_title(f"{title} accuracy".strip())
        ax_acc.grid(alpha=0.3)
        ax_acc.legend()
    fig.tight_layout()
    write_with(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    plt.close(fig)
