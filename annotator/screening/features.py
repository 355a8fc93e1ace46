"""What the model reads of an item: title, body, labels and the first comments, as TF-IDF.

The vectoriser is fitted once on every item of the pile (unsupervised: it sees no decision),
so retraining after a decision only refits the classifier. scikit-learn is imported here,
inside the functions, never when annotator starts.
"""

from __future__ import annotations

import json
import re

FIRST_COMMENTS = 3  # later comments drift to workarounds and "+1"s; the first ones describe the problem
BODY_LIMIT = 20_000  # a pasted log of megabytes adds nothing but time
_LABEL_CHARS = re.compile(r"[^0-9a-z]+")


def _as_list(value) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value or "[]")
        except ValueError:
            return [value]
    return list(value or [])


def item_text(item: dict, comments: int = FIRST_COMMENTS) -> str:
    """One document per item. The title counts twice (it is the most telling line), labels
    become single tokens ('label_bug', 'label_model_loading') so they cannot mix with words."""
    title = item.get("title") or ""
    body = (item.get("body") or "")[:BODY_LIMIT]
    labels = []
    for label in _as_list(item.get("labels")):
        name = label.get("name", "") if isinstance(label, dict) else str(label)
        token = _LABEL_CHARS.sub("_", name.lower()).strip("_")
        if token:
            labels.append(f"label_{token}")
    thread = []
    for comment in _as_list(item.get("comments"))[:comments]:
        text = comment.get("body", "") if isinstance(comment, dict) else str(comment)
        thread.append((text or "")[:BODY_LIMIT])
    return "\n".join([title, title, " ".join(labels), body, *thread])


def tfidf_matrix(texts: list[str]):
    """A sparse TF-IDF matrix (one row per text): words, sublinear counts.

    min_df=2 drops the words seen once (typos, hashes, paths): they cannot generalise to
    another item. Single words only: adding word pairs made the matrix 10 times wider,
    vectorising 5 times and retraining 2-3 times slower at 8,000 items (benchmarks/bench_screening.py).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    min_df = 2 if len(texts) >= 50 else 1
    vectoriser = TfidfVectorizer(sublinear_tf=True, min_df=min_df, max_df=0.9, ngram_range=(1, 1),
                                 max_features=50_000, stop_words="english", dtype=_float32(),
                                 token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b")
    try:
        return vectoriser.fit_transform(texts)
    except ValueError:  # every text empty, or only stop words: one constant feature
        from scipy.sparse import csr_matrix
        import numpy as np

        return csr_matrix(np.ones((len(texts), 1), dtype=np.float32))


def _float32():
    import numpy as np

    return np.float32
