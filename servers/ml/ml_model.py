"""The RandomForest both the ML batch job (`ml_train.py`) and the inference server
(`ml_serve.py`) build, so the server answers with the Job's model: the training CSV parsed the
same way, the same stratified 80/20 split and the same forest, all seeded.
"""
import io

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

TEST_SIZE = 0.2


def parse_csv(body: bytes):
    """Features and labels of a training CSV (header row, label in the last column)."""
    data = np.loadtxt(io.BytesIO(body), delimiter=",", skiprows=1)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"expected a table with features and a label, got shape {data.shape}")
    return data[:, :-1], data[:, -1].astype(int)


def split(x, y, seed: int):
    """The Job's split: x_train, x_test, y_train, y_test."""
    return train_test_split(x, y, test_size=TEST_SIZE, random_state=seed, stratify=y)


def fit(x_train, y_train, trees: int, seed: int, max_depth=None) -> RandomForestClassifier:
    """The Job's forest: single-threaded (n_jobs=1), seeded."""
    model = RandomForestClassifier(
        n_estimators=trees, max_depth=max_depth, n_jobs=1, random_state=seed)
    model.fit(x_train, y_train)
    return model
