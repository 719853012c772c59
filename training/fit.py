"""fit(config, train rows) -> fitted model; seeds set here; no export logic."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from labels.schema import LABELS, LabelledComment
from serving.linear import N_RELEVANCE, LinearModel, make_vectorizer
from training.config import LinearConfig
from training.evaluate import label_matrix

log = logging.getLogger(__name__)


def vectorizer_params(config: LinearConfig) -> dict[str, dict]:
    """The TfidfVectorizer settings saved in config.json, so serving rebuilds identical features."""
    common = {"lowercase": True, "sublinear_tf": True, "strip_accents": "unicode", "min_df": config.min_df}
    return {
        "word": {**common, "analyzer": "word", "ngram_range": list(config.word_ngrams), "token_pattern": r"(?u)\b\w+\b", "max_features": config.word_max_features},
        "char": {**common, "analyzer": "char_wb", "ngram_range": list(config.char_ngrams), "max_features": config.char_max_features},
    }


class LinearBaseline:
    """TF-IDF word + char n-grams with one logistic regression per label; off_topic also sees context relevance.

    Follows the scikit-learn estimator contract: __init__ stores hyperparameters, fit returns self,
    the learned state is `model_`. Rows whose label is missing are left out of that label's fit.
    """

    def __init__(self, config: LinearConfig, *, seed: int = 13, progress: bool = True) -> None:
        self.config = config
        self.seed = seed
        self.progress = progress

    def fit(self, rows: Sequence[LabelledComment], sample_weight: Sequence[float] | None = None) -> LinearBaseline:
        """Fit the vocabularies on comments and their contexts, then each label's classifier."""
        np.random.seed(self.seed)
        params = vectorizer_params(self.config)
        corpus = [r.body for r in rows] + sorted({t for r in rows for t in (r.article_title, r.article_text, r.parent_body) if t})
        log.info("fitting vocabularies on %d texts", len(corpus))
        word = make_vectorizer(params["word"]).fit(corpus)
        char = make_vectorizer(params["char"]).fit(corpus)
        backend_params = {**params, "relevance_scale": self.config.relevance_scale, "article_chars": self.config.article_chars}
        n_text = len(word.vocabulary_) + len(char.vocabulary_)
        model = LinearModel(
            word=word,
            char=char,
            coef=np.zeros((len(LABELS), n_text + N_RELEVANCE), dtype=np.float32),
            intercept=np.zeros(len(LABELS), dtype=np.float32),
            params=backend_params,
        )
        design = model.design(rows)
        y = label_matrix(rows)
        weights = np.asarray(sample_weight if sample_weight is not None else np.ones(len(rows)), dtype=np.float64)
        for j, label in enumerate(tqdm(LABELS, desc="fitting labels", unit="label", disable=not self.progress)):
            mask = ~np.isnan(y[:, j])
            labels_j = y[mask, j].astype(int)
            if mask.sum() == 0 or labels_j.min() == labels_j.max():
                log.warning("label %s has no or one-class training data; it will score its base rate", label.value)
                rate = float(labels_j.mean()) if mask.any() else 0.0
                model.intercept[j] = np.log(max(rate, 1e-4) / max(1 - rate, 1e-4))
                continue
            x: sp.csr_matrix = design[label][np.flatnonzero(mask)]
            clf = LogisticRegression(C=self.config.C.get(label.value, 1.0), solver="liblinear", max_iter=self.config.max_iter, random_state=self.seed)
            clf.fit(x, labels_j, sample_weight=weights[mask])
            model.coef[j, : x.shape[1]] = clf.coef_[0]
            model.intercept[j] = clf.intercept_[0]
            log.info("fitted %s on %d rows (%d positive)", label.value, mask.sum(), labels_j.sum())
        self.model_ = model
        return self
