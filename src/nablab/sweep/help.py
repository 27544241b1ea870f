"""The sweep file's reference for ``nablab sweep --help``, generated from the registries."""

from __future__ import annotations


def sweep_help() -> str:
    from nablab.sweep.backends import BACKENDS
    from nablab.sweep.kinds import TRIAL_KINDS
    from nablab.sweep.search import SEARCHES

    def listing(registry) -> str:
        return "; ".join(f"{e.name}: {e.summary}" for e in registry.entries())

    return f"""\
the sweep file (YAML; an unknown key is an error, every problem is reported with its path):
  title: TEXT                 optional, shown above the table
  kind: NAME                  what a trial is ({listing(TRIAL_KINDS)})
  base: {{name: value}}         settings every trial shares (train: nablab train's flags as
                              fields: data, hidden, optimizer, lr, epochs, batch_size, ...)
  axes: {{name: [values]}}      what varies; random and tpe also take ranges
        {{name: {{low, high, log, integer}}}}
  seeds: N | [seeds]          each point runs once per seed (default 1: seed 0)
  metric: NAME                what the table ranks and tpe optimizes (train: val_acc)
  direction: minimize|maximize    default: minimize a loss, maximize anything else
  search: NAME | {{type, trials, seed, batch, startup}}
                              {listing(SEARCHES)}
  backend: NAME               {listing(BACKENDS)}
  address: HOST:PORT|auto     the Ray cluster (ray backend)
  workers: N                  trials at once (local: the machine's cores by default)
  color_by: AXIS              the axis that colours the loss curves (default: the first)

The sweep folder gets sweep.db (SQLite: every trial, its metrics and history), sweep.yaml and
the figures. Running the same command again resumes: finished trials are kept, failed and
interrupted ones run again. nablab sweep show DIR [--csv [FILE]] [--trials] prints the table.
"""
