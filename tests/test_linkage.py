"""The numpy average linkage builds scipy's tree, ties and rounding included, and cuts it in two as scipy does:
on the similarities of the written days, of real weeks of the shared export, and of random matrices full of
ties. scipy is imported here only, as the yardstick; the product does without scipy.cluster."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from digest_core.background import shipped_background
from digest_core.text import content_stems
from digest_core.themes.grouping import vectorize
from digest_core.themes.linkage import average_linkage, two_clusters
from tests.conftest import REPO
from tests.days import written_days
from tests.test_themes import export_weeks


def distances(similarity: np.ndarray) -> np.ndarray:
    distance = np.clip(1.0 - similarity, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    return distance


def assert_as_scipy(distance: np.ndarray) -> None:
    expected = linkage(squareform(distance, checks=False), method="average")
    tree = average_linkage(distance)
    assert np.array_equal(tree, expected), "the merges, their heights or their labels differ from scipy's"
    if distance.shape[0] >= 3:
        assert two_clusters(tree) == list(fcluster(expected, t=2, criterion="maxclust"))


def day_similarity(posts: tuple) -> np.ndarray:
    terms = {t for p in posts for t in content_stems(f"{p.title}\n\n{p.text}")}
    return vectorize(list(posts), shipped_background(terms)).similarity


def test_the_written_days_cluster_as_with_scipy() -> None:
    days = written_days()
    assert days
    for posts in days.values():
        assert_as_scipy(distances(day_similarity(posts)))


def test_real_weeks_cluster_as_with_scipy() -> None:
    weeks = export_weeks(40)
    assert weeks
    for posts in weeks:
        similarity = day_similarity(posts)
        assert_as_scipy(distances(similarity))
        # And every sub-theme that the finder would try to split: the first half of the week's posts.
        half = list(range(max(4, len(posts) // 2)))
        assert_as_scipy(distances(similarity[np.ix_(half, half)]))


@pytest.mark.parametrize("kind", ["cosine", "quarters", "tenths"])
def test_random_matrices_with_ties_cluster_as_with_scipy(kind: str) -> None:
    rng = np.random.default_rng(sum(map(ord, kind)))
    for _ in range(300):
        n = int(rng.integers(2, 40))
        if kind == "cosine":  # few exact ties
            x = rng.random((n, 6)) ** 3
            gram = x @ x.T
            norms = np.sqrt(np.diag(gram))
            similarity = gram / np.outer(norms, norms)
        else:  # distances from a handful of values: ties at every step
            steps = 4 if kind == "quarters" else 10
            raw = rng.integers(0, steps + 1, (n, n)) / steps
            similarity = np.minimum(raw, raw.T)
        assert_as_scipy(distances(similarity))


def test_a_large_day_clusters_as_with_scipy() -> None:
    rng = np.random.default_rng(7)
    x = rng.random((600, 40)) ** 6  # sparse-like rows: a day of many loosely related posts
    gram = x @ x.T
    norms = np.sqrt(np.diag(gram))
    assert_as_scipy(distances(gram / np.outer(norms, norms)))


def test_writing_a_day_imports_no_scipy_cluster() -> None:
    script = (
        "import sys\n"
        "from tests.days import written_days\n"
        "from digest_core.themes import find_themes\n"
        "posts = max(written_days().values(), key=len)\n"
        "themes, _ = find_themes(posts)\n"
        "assert themes, 'no themes'\n"
        "print(sorted(m for m in sys.modules if m.startswith('scipy.cluster')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
