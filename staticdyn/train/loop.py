"""The training loop: plain PyTorch, one function, resumable bit for bit.

``fit`` trains a zoo model on a ``ClipDataset``, evaluates top-1 on a validation set, writes a
CSV log and saves checkpoints every ``ckpt_every`` steps. It is deliberately not a framework:
no callbacks, no trainer class hierarchy; the only extension point is the dropout controller,
because StaticDropout must see the model between steps.

Why it resumes exactly: the data of step n is fixed by (seed, epoch, position) (see
``data.py``), the learning rate is a function of n (``optim.lr_at``), and every source of
randomness inside the step (dropout masks, ``nn.Dropout`` in zoo heads) is re-seeded from
(seed, n) before the step. A checkpoint therefore only needs the weights, the optimizer state,
n and the dropout rates; a run killed at any point and restarted continues with the very same
batches and masks.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from staticdyn.config import flatten
from staticdyn.data.source import VideoSource
from staticdyn.errors import StaticDynError
from staticdyn.models.spec import ZooModel
from staticdyn.train.checkpoints import list_checkpoints, load_training_state, save_checkpoint
from staticdyn.train.data import ClipDataset, EpochSampler, collate, model_inputs
from staticdyn.train.dropout import DropoutController
from staticdyn.train.optim import build_optimizer, lr_at, set_lr
from staticdyn.train.settings import TrainSettings

log = logging.getLogger("staticdyn.train")

LOG_COLUMNS = ["step", "epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1",
               "dropout_units", "dropout_rate", "seconds"]


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    val_loss: float | None
    val_top1: float | None
    log_path: Path
    checkpoints: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int | None = None
    dropout_units: int = 0
    dropout_rate: float = 0.0
    mean_dropout_rate: float = 0.0  # averaged over active steps: what "equal rate" matches


def step_seed(seed: int, step: int) -> int:
    """Seed of everything random inside step ``step`` (dropout masks)."""
    return (int(seed) * 1_000_003 + int(step) * 7_919 + 17) % (2**63 - 1)


class CsvLog:
    """``log.csv``: one row per log, eval or checkpoint event. On resume, rows past the resumed
    step are dropped, since those steps are about to be redone."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        rows: list[dict[str, str]] = []
        if resume_step is not None and path.exists():
            with path.open() as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= resume_step]
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, LOG_COLUMNS)
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, LOG_COLUMNS).writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def make_loader(ds: ClipDataset, batch_size: int, num_workers: int,
                sampler: torch.utils.data.Sampler | None = None,
                drop_last: bool = False) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler,
                                       num_workers=num_workers, collate_fn=collate,
                                       drop_last=drop_last)


@torch.no_grad()
def evaluate(module: torch.nn.Module, loader: torch.utils.data.DataLoader,
             device: torch.device) -> tuple[float, float]:
    """(mean loss, top-1 in %) over the loader, in eval mode; the mode is restored after."""
    was = module.training
    module.eval()
    loss_sum, correct, n = 0.0, 0, 0
    try:
        for paths, y in loader:
            logits = module(model_inputs([p.to(device) for p in paths]))
            y = y.to(device)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            n += int(y.numel())
    finally:
        module.train(was)
    return loss_sum / max(n, 1), 100.0 * correct / max(n, 1)


def _check_identity(out_dir: Path, identity: dict[str, Any] | None, resuming: bool) -> None:
    """Refuse to resume a run whose configuration differs, naming the keys that differ."""
    path = out_dir / "train_identity.json"
    if identity is None:
        return
    plain = flatten(json.loads(json.dumps(identity, default=str)))
    if resuming and path.exists():
        old = flatten(json.loads(path.read_text()))
        diff = sorted(k for k in set(old) | set(plain) if old.get(k) != plain.get(k))
        if diff:
            raise StaticDynError(f"{out_dir} holds a training run with another configuration "
                                 f"(differs in {', '.join(diff[:8])}); use another out_dir or "
                                 "train.resume=false")
    path.write_text(json.dumps(plain, indent=1, sort_keys=True))


def fit(model: ZooModel, train_set: ClipDataset, val_set: ClipDataset | None,
        s: TrainSettings, out_dir: Path, probe_source: VideoSource | None = None,
        identity: dict[str, Any] | None = None,
        dropout_extra: dict[str, Any] | None = None) -> TrainResult:
    """Train ``model.module`` in place; checkpoints under ``out_dir/checkpoints``."""
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(s.device)
    if s.threads:
        torch.set_num_threads(int(s.threads))
    module = model.module.to(device)
    spe = len(train_set) // s.batch_size
    if spe < 1:
        raise StaticDynError(f"{len(train_set)} training videos do not fill one batch of "
                             f"{s.batch_size}; lower train.batch_size")
    total = s.max_steps if s.max_steps is not None else s.epochs * spe
    optimizer = build_optimizer(module.parameters(), s)
    generator = torch.Generator().manual_seed(step_seed(s.seed, -1))
    dropout = DropoutController(model, {**s.dropout, **(dropout_extra or {})}, probe_source,
                                generator)

    step, resumed, seconds0 = 0, None, 0.0
    existing = list_checkpoints(ckpt_dir) if s.resume else []
    _check_identity(out_dir, identity, bool(existing))
    if existing:
        resumed, path = existing[-1]
        state = load_training_state(path)
        module.load_state_dict(state["model_state"])
        if "optimizer_state" in state:
            optimizer.load_state_dict(state["optimizer_state"])
        dropout.load_state(state.get("dropout_state", {}))
        step, seconds0 = int(state["step"]), float(state.get("seconds", 0.0))
        log.info("resuming %s at step %d", out_dir, step)
    csv_log = CsvLog(out_dir / "log.csv", resumed)
    val_loader = (make_loader(val_set, s.batch_size, s.num_workers)
                  if val_set is not None and len(val_set) else None)

    t0 = time.perf_counter()
    elapsed = lambda: seconds0 + time.perf_counter() - t0  # noqa: E731
    val: tuple[float, float] | None = None
    saved: list[Path] = []

    def extra() -> dict[str, Any]:
        e: dict[str, Any] = {"dropout_state": dropout.state(), "seconds": elapsed()}
        if val is not None:
            e.update(val_loss=val[0], val_top1=val[1])
        return e

    def row(**kw: Any) -> dict[str, Any]:
        return {"step": step, "epoch": step // spe, "lr": lr_at(max(step - 1, 0), total, s),
                "dropout_units": dropout.selected, "dropout_rate": dropout.mean_rate,
                "seconds": round(elapsed(), 2), **kw}

    if step == 0 and s.save_initial and s.ckpt_every:
        saved.append(save_checkpoint(ckpt_dir, 0, 0, module, optimizer, extra()))
    module.train()
    bar = tqdm(total=total, initial=step, disable=not s.progress, desc="train", leave=False)
    run_loss = run_correct = run_n = 0.0
    while step < total:
        epoch = step // spe
        train_set.set_epoch(epoch)
        sampler = EpochSampler(len(train_set), s.seed, epoch, skip=(step % spe) * s.batch_size)
        for paths, y in make_loader(train_set, s.batch_size, s.num_workers, sampler, True):
            if step >= total:
                break
            dropout.before_step(step)
            torch.manual_seed(step_seed(s.seed, step))
            generator.manual_seed(step_seed(s.seed, step) + 1)
            set_lr(optimizer, lr_at(step, total, s))
            logits = module(model_inputs([p.to(device) for p in paths]))
            y = y.to(device)
            loss = F.cross_entropy(logits, y, label_smoothing=s.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            run_loss += float(loss.detach()) * y.numel()
            run_correct += float((logits.argmax(1) == y).sum())
            run_n += y.numel()
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            end_of_epoch = step % spe == 0
            evaluated = False
            if val_loader is not None and ((s.eval_every and step % s.eval_every == 0) or
                                           (not s.eval_every and end_of_epoch) or step == total):
                val, evaluated = evaluate(module, val_loader, device), True
            if run_n and (step % max(s.log_every, 1) == 0 or end_of_epoch or evaluated):
                fresh = {"val_loss": val[0], "val_top1": val[1]} if evaluated and val else {}
                csv_log.write(row(train_loss=run_loss / run_n,
                                  train_top1=100.0 * run_correct / run_n, **fresh))
                run_loss = run_correct = run_n = 0.0
            if (s.ckpt_every and step % s.ckpt_every == 0) or step == total:
                saved.append(save_checkpoint(ckpt_dir, step, step // spe, module, optimizer,
                                             extra()))
    bar.close()
    if val is None and val_loader is not None:  # resumed at the end: evaluate the final model
        val = evaluate(module, val_loader, device)
    dropout.remove()
    module.eval()
    return TrainResult(out_dir, step, val[0] if val else None, val[1] if val else None,
                       out_dir / "log.csv", saved, elapsed(), resumed, dropout.selected,
                       dropout.mean_rate, dropout.mean_active_rate)
