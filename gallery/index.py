"""In-process exact index of one library's exemplars, kept in step with Redis through its change stream.

Rows are unit feature vectors; each belongs to one identity. ``search`` returns identities by
their best exemplar's cosine (exact: a matrix product over every row). Updating an identity
replaces its rows: the old ones are marked dead and skipped, and the matrix is compacted when
dead rows outnumber live ones.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


class ExactIndex:
    """Exemplars of one library (dimension ``dim``)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._rows = np.zeros((0, dim), np.float32)
        self._owner = np.zeros(0, np.int64)  # identity per row, -1 when dead
        self._live: dict[int, npt.NDArray[np.int64]] = {}

    def __len__(self) -> int:
        """Identities held."""
        return len(self._live)

    def set(self, identity: int, exemplars: F32) -> None:
        """Replace the identity's exemplars (``(K, dim)``; K = 0 removes it)."""
        old = self._live.pop(identity, None)
        if old is not None:
            self._owner[old] = -1
        vectors = np.asarray(exemplars, np.float32).reshape(-1, self.dim)
        if len(vectors):
            start = len(self._rows)
            self._rows = np.concatenate([self._rows, vectors])
            self._owner = np.concatenate([self._owner, np.full(len(vectors), identity, np.int64)])
            self._live[identity] = np.arange(start, start + len(vectors))
        if (self._owner < 0).sum() > max(1024, len(self._owner) // 2):
            self._compact()

    def _compact(self) -> None:
        keep = self._owner >= 0
        self._rows, self._owner = self._rows[keep], self._owner[keep]
        self._live = {}
        for row, identity in enumerate(self._owner.tolist()):
            self._live.setdefault(identity, np.zeros(0, np.int64))
            self._live[identity] = np.append(self._live[identity], row)

    def search(self, query: F32, k: int = 1) -> list[tuple[int, float]]:
        """The ``k`` identities with the highest cosine to ``query`` (unit vector), best first."""
        if not self._live:
            return []
        scores = self._rows @ np.asarray(query, np.float32).reshape(self.dim)
        scores = np.where(self._owner >= 0, scores, -np.inf)
        order = np.argsort(-scores, kind="stable")
        out: list[tuple[int, float]] = []
        seen: set[int] = set()
        for row in order:
            identity = int(self._owner[row])
            if identity < 0 or identity in seen:
                continue
            seen.add(identity)
            out.append((identity, float(scores[row])))
            if len(out) == k:
                break
        return out
