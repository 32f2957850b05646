"""Embedder exports: how the trainer hands its current document embedder to the refresh sidecar.

    exports/
      step-000000500/   # save_pretrained of the embedder at that global step (complete: renamed into place)
      TRAINING_DONE     # written by the trainer when it stops; the sidecar exits after seeing it

Only complete exports are visible (written under a dot-name, then renamed). The sidecar always takes the
newest export and skips older ones it has not got to, as REALM's refresher does.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil

DONE_MARKER = "TRAINING_DONE"
_EXPORT = re.compile(r"^step-(\d{9})$")


def export_name(step: int) -> str:
    return f"step-{step:09d}"


def write_export(exports_dir: str, step: int, embedder, keep: int = 3) -> str:
    from realm.pretrained import save_pretrained

    os.makedirs(exports_dir, exist_ok=True)
    final = os.path.join(exports_dir, export_name(step))
    if os.path.exists(final):
        return final
    staging = os.path.join(exports_dir, f".staging-{export_name(step)}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    save_pretrained(embedder, staging)
    os.rename(staging, final)
    for old in list_exports(exports_dir)[:-keep]:
        shutil.rmtree(os.path.join(exports_dir, export_name(old)), ignore_errors=True)
    return final


def list_exports(exports_dir: str) -> list[int]:
    if not os.path.isdir(exports_dir):
        return []
    steps = [int(m.group(1)) for n in os.listdir(exports_dir) if (m := _EXPORT.match(n))]
    return sorted(steps)


def newest_export(exports_dir: str) -> int | None:
    steps = list_exports(exports_dir)
    return steps[-1] if steps else None


def mark_done(exports_dir: str) -> None:
    os.makedirs(exports_dir, exist_ok=True)
    with open(os.path.join(exports_dir, DONE_MARKER), "w", encoding="utf-8") as f:
        f.write("done\n")


def is_done(exports_dir: str) -> bool:
    return os.path.exists(os.path.join(exports_dir, DONE_MARKER))


def clear_done(exports_dir: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(exports_dir, DONE_MARKER))
