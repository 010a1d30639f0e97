"""Average-linkage clustering in numpy, the same tree that `scipy.cluster.hierarchy.linkage(method="average")`
builds, ties and rounding included, and its cut into two flat clusters as `fcluster(criterion="maxclust", t=2)`
labels them. Importing scipy.cluster took longer (about 0.3 s, and 18 MB) than clustering a 200-post day.

The tree is built by the nearest-neighbour chain: follow each cluster to its nearest one (the earliest index on
a tie, the previous link of the chain unless another is strictly nearer) until two clusters are each other's
nearest, merge them, and update the merged cluster's distances by the size-weighted mean, in the same floating-
point operations as scipy, so that the merge heights agree to the last bit. The merges are then ordered by
height (stably) and relabelled, as scipy orders and labels them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def average_linkage(distance: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """The linkage matrix (n - 1 rows of: cluster, cluster, height, size) of the square, symmetric distance
    matrix `distance` (n >= 2; its diagonal is ignored). Clusters 0..n-1 are the points, n + k the k-th merge.
    `overwrite`: `distance` (float64) may be written over, saving a copy (8 MB for 1,000 posts)."""
    import numpy as np

    n = distance.shape[0]
    # The merged clusters' distances are written into d.
    d = distance if overwrite and distance.dtype == np.float64 else np.array(distance, dtype=np.float64)
    np.fill_diagonal(d, np.inf)  # never a cluster's own nearest
    size = np.ones(n, dtype=np.int64)
    merges = np.empty((n - 1, 4), dtype=np.float64)
    chain: list[int] = []
    for k in range(n - 1):
        if not chain:
            chain.append(int(np.flatnonzero(size)[0]))
        while True:
            x = chain[-1]
            row = d[x]
            nearest = int(row.argmin())  # the earliest index of the smallest distance
            height = float(row[nearest])
            if len(chain) > 1:
                previous = chain[-2]
                # The previous link holds unless another cluster is strictly nearer: no cycles on ties.
                if not height < float(row[previous]):
                    nearest, height = previous, float(row[previous])
                if nearest == previous:
                    break
            chain.append(nearest)
        chain.pop()
        chain.pop()
        x, y = min(x, nearest), max(x, nearest)
        nx, ny = int(size[x]), int(size[y])
        merges[k] = (x, y, height, nx + ny)
        # y stands for the merged cluster from now on, x is gone.
        merged = (nx * d[x] + ny * d[y]) / (nx + ny)
        size[x] = 0
        size[y] = nx + ny
        merged[size == 0] = np.inf
        merged[y] = np.inf
        d[y] = merged
        d[:, y] = merged
        d[x] = np.inf
        d[:, x] = np.inf
    merges = merges[np.argsort(merges[:, 2], kind="mergesort")]
    _relabel(merges, n)
    return merges


def _relabel(merges: np.ndarray, n: int) -> None:
    """Name each merge's clusters by the merge that formed them (n + row), smaller name first, as scipy does once
    the merges are ordered by height; the sizes follow."""
    parent = list(range(2 * n - 1))
    sizes = [1] * n + [0] * (n - 1)

    def root(i: int) -> int:
        top = i
        while parent[top] != top:
            top = parent[top]
        while parent[i] != top:  # path compression
            parent[i], i = top, parent[i]
        return top

    for k in range(n - 1):
        a, b = root(int(merges[k, 0])), root(int(merges[k, 1]))
        merges[k, 0], merges[k, 1] = min(a, b), max(a, b)
        parent[a] = parent[b] = n + k
        sizes[n + k] = sizes[a] + sizes[b]
        merges[k, 3] = sizes[n + k]


def two_clusters(merges: np.ndarray) -> list[int]:
    """Each point's flat cluster (1 or 2) when the tree is cut into at most two clusters, numbered as
    `fcluster(merges, t=2, criterion="maxclust")` numbers them; all 1 when no height parts the tree in two
    (the top merges tie)."""
    n = merges.shape[0] + 1
    # The highest merge below each merge (inclusive): what a cut must pass for the merge's points to part.
    top = [0.0] * (n - 1)
    for k in range(n - 1):
        top[k] = max([float(merges[k, 2])] + [top[int(c) - n] for c in merges[k, :2] if c >= n])

    def clusters_at(cutoff: float) -> int:
        count, stack = 0, [2 * n - 2]
        while stack and count <= 2:
            node = stack.pop()
            if node < n or top[node - n] <= cutoff:
                count += 1
            else:
                stack += (int(merges[node - n, 0]), int(merges[node - n, 1]))
        return count

    # The cut: the first height, found by bisection over the merges in order as scipy searches them, that
    # leaves at most two clusters.
    low, high = -1, n - 1
    while high - low > 1:
        middle = (low + high) // 2
        if clusters_at(top[middle]) > 2:
            low = middle
        else:
            high = middle
    cutoff = top[high] if high < n - 1 else float("inf")
    labels = [0] * n
    count = 0
    # Depth first, the inner branches of a merge before the points it merges directly, as scipy numbers them.
    stack: list[tuple[int, bool]] = [(2 * n - 2, False)]
    while stack:
        node, inside = stack.pop()
        if node < n:
            if not inside:
                count += 1
            labels[node] = count
            continue
        starts = not inside and top[node - n] <= cutoff
        if starts:
            count += 1
        children = [int(c) for c in merges[node - n, :2]]
        ordered = [c for c in children if c >= n] + [c for c in children if c < n]
        stack += [(child, inside or starts) for child in reversed(ordered)]
    return labels
