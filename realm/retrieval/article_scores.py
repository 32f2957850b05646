"""Retrieved blocks re-ranked with their article's best score: a block is read sooner when another block of its
article matched the question well.

A question often names its subject in a way only the article's lead states ("the gestation period of orycteropus
afer": the aardvark's lead gives the Latin name, its later block gives the gestation), while a block of another
article matches the rest of the question ("gestation" in the aardwolf's). Scoring each block as
`(1 - w) * its own score + w * the best score among the retrieved blocks of its article` lets the lead's match
carry to its article's other blocks; w = 0 is REALM's ranking. Only blocks among those retrieved count, so it
needs no per-article index and runs in-graph in the served model.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def article_ids_of(titles) -> np.ndarray:
    """One integer per block naming its article (blocks of one title share it): Wikipedia titles are unique."""
    _, ids = np.unique(np.asarray(titles, dtype=object).astype(bytes), return_inverse=True)
    return ids.astype(np.int32)


def rerank_by_article(scores: tf.Tensor, ids: tf.Tensor, block_articles: tf.Tensor, weight: float):
    """(scores, ids) [b, S] best first -> the same blocks ordered by their article-smoothed scores, best first,
    with those scores."""
    articles = tf.gather(block_articles, ids)  # [b, S]
    same_article = tf.equal(articles[:, :, None], articles[:, None, :])  # [b, S, S]
    lowest = tf.reduce_min(scores, axis=1, keepdims=True)[:, :, None]
    best_of_article = tf.reduce_max(tf.where(same_article, scores[:, None, :], lowest), axis=2)
    smoothed = (1.0 - weight) * scores + weight * best_of_article
    smoothed, order = tf.math.top_k(smoothed, k=scores.shape[1] or tf.shape(scores)[1])
    return smoothed, tf.gather(ids, order, batch_dims=1)
