"""The classifiers a screening can use: logistic regression (default), naive Bayes, linear SVM.

Each is trained with balanced classes (relevant items are rare: about 1 in 10 in the model
study), and gives a score per item for ranking and a probability for the estimate of what
remains. scikit-learn is imported inside the functions.
"""

from __future__ import annotations

MODELS = ("logistic", "naive-bayes", "svm")
DEFAULT_MODEL = "logistic"


def check_model(name: str) -> str:
    from annotator.errors import UserError

    if name not in MODELS:
        raise UserError(f"--model {name}: not a screening model (choose one of: {', '.join(MODELS)}).")
    return name


def _classifier(name: str):
    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(class_weight="balanced", C=1.0, solver="liblinear", max_iter=200)
    if name == "naive-bayes":
        from sklearn.naive_bayes import ComplementNB

        return ComplementNB(alpha=0.1)
    if name == "svm":
        from sklearn.svm import LinearSVC

        return LinearSVC(class_weight="balanced", C=0.5)
    raise ValueError(name)


def fit_and_score(name: str, X, train_rows, train_labels, score_rows):
    """Train on ``train_rows`` (labels 1 relevant, 0 not) and score ``score_rows``.

    Returns (scores for ranking, probabilities of relevance) as numpy arrays. The
    probabilities are corrected for the balanced weighting (which trains as if half the items
    were relevant) back to the share of relevant items among the decisions, so that summing
    them over the unscreened items estimates how many relevant ones remain.
    """
    import numpy as np

    y = np.asarray(train_labels, dtype=np.int8)
    classifier = _classifier(name)
    X_train = X[train_rows]
    if name == "naive-bayes":
        from sklearn.utils.class_weight import compute_sample_weight

        classifier.fit(X_train, y, sample_weight=compute_sample_weight("balanced", y))
    else:
        classifier.fit(X_train, y)
    X_score = X[score_rows]
    if name == "svm":
        scores = classifier.decision_function(X_score)
        balanced = 1.0 / (1.0 + np.exp(-2.0 * scores))  # a rough sigmoid: SVMs give no probabilities
    else:
        balanced = classifier.predict_proba(X_score)[:, 1]
        scores = balanced
    prevalence = float(y.mean())
    odds = balanced / np.clip(1.0 - balanced, 1e-9, None) * (prevalence / max(1.0 - prevalence, 1e-9))
    return np.asarray(scores, dtype=float), odds / (1.0 + odds)
