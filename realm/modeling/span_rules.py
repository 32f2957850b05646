"""Rules a predicted answer span must follow beyond lying inside its block (which the reader's head enforces).

An answer is what the question asks for, so it is not made of the question's own words: for "who developed the
martial art aikido" the span "Aikido" is never right. A reader trained on a few hundred questions still picks
such spans (it matches the question against the block and stops at the match), so inference rules them out.

An answer is also of the kind the question asks for: "how many teams", "in what year" and "when" ask for a
number or a date, so their answer holds a numeral; "who" and "where" ask for a name, never a bare number or date.
A reader trained on a few hundred questions answers "how many teams did the afl begin play with" with "Miami
Dolphins"; the rule keeps it to spans of the asked kind. Question words are read in the graph (the served model
applies the same rule) and a question whose blocks offer no span of its kind keeps every span: the rule narrows
the choice, it never leaves a question without an answer.

A measurement is a number with its unit: "how long is the gestation period" is answered by "seven months", never by
a bare "seventeen" from a block that counts the animal's subspecies, and "how far", "how tall", "how high", "how
deep" and "how wide" likewise. The measure rule (`spans_of_a_measure`) keeps such a question to the spans of the
number kind that end with a unit (of length, or for "how long" of length or time), when its blocks offer one;
otherwise to the number kind.

A softer form of the first rule is a prior (`question_words_in_spans`): a span that repeats the question's content
words ("the Late Latin word alphabetum" for "the first letter of the latin alphabet derives from which greek
letter") is usually the reader stopping at the match, not the answer; but some answers do hold one ("which strait
..." -> "Strait of Otranto"), so it lowers such spans' scores instead of ruling them out.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from realm.modeling.layers.heads import span_candidates

EXCLUDE_QUESTION_SPANS_KEY = "exclude_question_spans"  # RealmConfig.extra: the rule is on for this model
ANSWER_TYPE_RULES_KEY = "answer_type_rules"  # RealmConfig.extra: answers of the asked kind (numbers, names)
MEASURE_UNITS_KEY = "answer_measure_units"  # RealmConfig.extra: "how long/far/tall..." answers end with a unit

# Lower-cased questions asking for a quantity, a date or a duration, and those asking for a person or place.
ASKS_FOR_A_NUMBER = (
    r"(?:when\b.*|.*\b(?:how (?:many|much|long|old|far|tall|high|big|large|deep|wide)"
    r"|(?:what|which) (?:year|date|century|decade|percentage))\b.*)"
)
ASKS_FOR_A_NAME = r"(?:who|whom|whose|where)\b.*"
ASKS_FOR_A_MEASURE = r".*\bhow (?:long|far|tall|high|deep|wide)\b.*"
ASKS_FOR_A_LENGTH = r".*\bhow (?:far|tall|high|deep|wide)\b.*"  # "how long" asks for a length or a duration
# Units of time and of length as whole wordpieces of the BERT uncased vocabulary; the few it splits ("millimetre",
# "centimeter") cannot be marked by one piece and are left out, as are "second" (the ordinal far more often than
# the unit) and "in" (the preposition).
_TIME_UNITS = (
    "seconds minute minutes min hour hours hr day days week weeks month months year years decade decades century "
    "centuries millennium millennia"
)
_LENGTH_UNITS = (
    "mm cm m km metre metres meter meters millimetres centimetres centimeters kilometre kilometres kilometer "
    "kilometers inch inches ft foot feet yard yards mile miles mi nmi"
)
TIME_UNITS = frozenset(_TIME_UNITS.split())
LENGTH_UNITS = frozenset(_LENGTH_UNITS.split())
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion "
    "trillion dozen hundreds thousands millions billions dozens"
)
NUMBER_WORDS = frozenset(_NUMBER_WORDS.split())
# Months as wordpieces; "may" is left out, being more often the verb.
MONTHS = frozenset(
    {"january", "february", "march", "april", "june", "july", "august", "september", "october", "november", "december"}
)


def pieces_in_the_question(input_ids, token_type_ids, attention_mask):
    """[n, seq] bool: positions whose wordpiece the row's question (segment 0) holds too."""
    question = tf.logical_and(tf.equal(token_type_ids, 0), tf.equal(attention_mask, 1))
    same_piece = tf.equal(input_ids[:, :, None], input_ids[:, None, :])
    return tf.reduce_any(tf.logical_and(same_piece, question[:, None, :]), axis=2)


def spans_beyond_the_question(input_ids, token_type_ids, attention_mask, block_mask, max_span_width: int):
    """[n, spans] bool, in `span_candidates` order: True for spans with at least one block wordpiece that is not
    in the question (`[CLS] question [SEP] block [SEP]` rows, the question being segment 0)."""
    in_question = pieces_in_the_question(input_ids, token_type_ids, attention_mask)
    new_piece = tf.logical_and(tf.equal(block_mask, 1), tf.logical_not(in_question))
    return count_over_spans(new_piece, max_span_width) > 0


# Lower-cased whole words too common to say a span repeats the question ("the", "of" in "Strait of Otranto").
_STOP_WORDS = (
    "a an and are as at be been by did do does for from had has have he her his how in is it its of on or she "
    "that the their them they this to was were what when where which who whom whose why with"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())


def vocab_content_words(vocab: list[str]) -> np.ndarray:
    """[vocab] bool: whole-word wordpieces with a letter or digit that are not stop words. Continuation pieces
    ("##s", "##um") are left out: that a span and the question share one says nothing about their words."""
    content = np.zeros(len(vocab), bool)
    for i, token in enumerate(vocab):
        if token.startswith("##") or (token.startswith("[") and token.endswith("]")):
            continue
        content[i] = any(c.isalnum() for c in token) and token.lower() not in STOP_WORDS
    return content


def question_words_in_spans(input_ids, token_type_ids, attention_mask, block_mask, content_words, max_span_width: int):
    """[n, spans] int32, in `span_candidates` order: how many of each span's block wordpieces are content words
    (`vocab_content_words`) that the row's question (segment 0 of `[CLS] question [SEP] block [SEP]`) holds too."""
    in_question = pieces_in_the_question(input_ids, token_type_ids, attention_mask)
    repeated = tf.logical_and(tf.equal(block_mask, 1), in_question)
    repeated = tf.logical_and(repeated, tf.gather(content_words, input_ids))
    return count_over_spans(repeated, max_span_width)


def count_over_spans(flags, max_span_width: int):
    """[n, spans] int32, in `span_candidates` order: how many of each span's positions are set in `flags` [n, seq]."""
    starts, ends = span_candidates(tf.shape(flags)[1], max_span_width)
    before = tf.pad(tf.cumsum(tf.cast(flags, tf.int32), axis=1), [[0, 0], [1, 0]])  # before[:, i]: set in [0, i)
    return tf.gather(before, ends + 1, axis=1) - tf.gather(before, starts, axis=1)


def vocab_token_kinds(vocab: list[str]) -> np.ndarray:
    """[5, vocab] bool: per vocabulary entry, is it a numeral; a numeral or month; a numeral, month or punctuation;
    a unit of length (`LENGTH_UNITS`); a unit of length or time (`TIME_UNITS`), units as whole words only. A
    numeral is a wordpiece with a digit ("1865", "##5") or a whole-word number word ("seven", "million"); special
    tokens are none of these."""
    numeral = np.zeros(len(vocab), bool)
    month = np.zeros(len(vocab), bool)
    punctuation = np.zeros(len(vocab), bool)
    time_unit = np.zeros(len(vocab), bool)
    length_unit = np.zeros(len(vocab), bool)
    for i, token in enumerate(vocab):
        if token.startswith("[") and token.endswith("]"):
            continue  # [CLS], [SEP], [unused0]: never inside a block span
        whole = not token.startswith("##")
        piece = token if whole else token[2:]
        numeral[i] = any(c.isdigit() for c in piece) or (whole and piece in NUMBER_WORDS)
        month[i] = whole and piece in MONTHS
        punctuation[i] = not any(c.isalnum() for c in piece)
        time_unit[i] = whole and piece in TIME_UNITS
        length_unit[i] = whole and piece in LENGTH_UNITS
    return np.stack([numeral, numeral | month, numeral | month | punctuation, length_unit, length_unit | time_unit])


def spans_of_the_asked_kind(questions, input_ids, block_mask, token_kinds, max_span_width: int):
    """[n, spans] bool, in `span_candidates` order, for `[CLS] question [SEP] block [SEP]` rows whose questions
    (raw strings, [n]) are `questions`, with `token_kinds` from `vocab_token_kinds`. A question asking for a number
    or date keeps the spans that start with a numeral or month and hold a numeral ("25,000", "April 12, 1961",
    "seven months"; not "Aruba in 1636"); one asking for a name keeps the spans with a word that is no numeral,
    month or punctuation; others keep all."""
    lowered = tf.strings.lower(questions)
    asks_number = tf.strings.regex_full_match(lowered, ASKS_FOR_A_NUMBER)
    asks_name = tf.logical_and(tf.strings.regex_full_match(lowered, ASKS_FOR_A_NAME), tf.logical_not(asks_number))
    in_block = tf.equal(block_mask, 1)
    numeral, dateish, no_word = (tf.gather(token_kinds[i], input_ids) for i in range(3))
    word = tf.logical_and(tf.logical_not(no_word), in_block)
    number_like = _number_like_spans(numeral, dateish, in_block, max_span_width)
    name_like = count_over_spans(word, max_span_width) > 0
    return tf.where(asks_number[:, None], number_like, tf.logical_or(tf.logical_not(asks_name)[:, None], name_like))


def _number_like_spans(numeral, dateish, in_block, max_span_width: int):
    """[n, spans] bool: spans that start with a numeral or month and hold a numeral (block wordpieces only)."""
    numeral = tf.logical_and(numeral, in_block)
    dateish = tf.logical_and(dateish, in_block)
    starts, _ = span_candidates(tf.shape(in_block)[1], max_span_width)
    return tf.logical_and(tf.gather(dateish, starts, axis=1), count_over_spans(numeral, max_span_width) > 0)


def spans_of_a_measure(questions, input_ids, block_mask, token_kinds, max_span_width: int):
    """[n, spans] bool, as `spans_of_the_asked_kind`: a question asking for a measurement keeps the number-like
    spans that end with its unit, of length for "how far", "how tall", "how high", "how deep" and "how wide", of
    length or time for "how long" ("seven months", "1,023 metres"; not "seventeen", nor "156 km from Andorra",
    nor "60 days" for a height); other questions keep all."""
    lowered = tf.strings.lower(questions)
    asks_measure = tf.strings.regex_full_match(lowered, ASKS_FOR_A_MEASURE)
    asks_length = tf.strings.regex_full_match(lowered, ASKS_FOR_A_LENGTH)
    in_block = tf.equal(block_mask, 1)
    numeral, dateish, length_unit, any_unit = (tf.gather(token_kinds[i], input_ids) for i in (0, 1, 3, 4))
    number_like = _number_like_spans(numeral, dateish, in_block, max_span_width)
    unit = tf.where(asks_length[:, None], length_unit, any_unit)
    _, ends = span_candidates(tf.shape(input_ids)[1], max_span_width)
    ends_with_unit = tf.gather(tf.logical_and(unit, in_block), ends, axis=1)
    return tf.logical_or(tf.logical_not(asks_measure)[:, None], tf.logical_and(number_like, ends_with_unit))


def spans_inside_the_block(block_mask, max_span_width: int):
    """[n, spans] bool: spans made only of block wordpieces (those a prediction may take)."""
    starts, ends = span_candidates(tf.shape(block_mask)[1], max_span_width)
    return count_over_spans(tf.equal(block_mask, 1), max_span_width) == (ends - starts + 1)[None, :]
