from dataclasses import replace

from kqa.data import question_from_text
from kqa.retrieval.linking import ConceptLinker, LinkingConfig

VOCAB = {"revolving door", "door", "security", "travel", "bank", "library", "department store", "store",
         "new york", "live fish", "fish", "aquarium", "ice cream", "the"}


def names(concepts):
    return [c.name for c in concepts]


def test_longest_match_wins_and_offsets_point_at_the_text(nlp):
    linker = ConceptLinker(VOCAB, nlp)
    text = "Where would you keep a live fish?"
    found = linker.link_text(text)
    assert names(found) == ["live fish"]  # not "fish" as well: overlapping matches keep the longest
    assert text[found[0].start:found[0].end] == "live fish"


def test_lemmas_match_inflected_text(nlp):
    assert "ice cream" in names(ConceptLinker(VOCAB, nlp).link_text("They were eating ice creams."))


def test_stop_word_only_spans_never_link(nlp):
    assert names(ConceptLinker(VOCAB, nlp).link_text("The")) == []  # "the" is in the vocabulary but a stop word


def test_stop_words_that_name_things_link_as_the_concept_key_keeps_them(nlp):
    vocab = {"bottom", "top shelf", "empty", "front", "ocean"}  # spaCy calls "bottom", "top", "empty" stop words
    q = question_from_text("Where does the lost coin end up?", ["bottom of the ocean", "bottom", "the top shelf",
                                                                 "empty", "in front"])
    assert [names(c) for c in ConceptLinker(vocab, nlp).run(q).choices] == [
        ["bottom", "ocean"], ["bottom"], ["top shelf"], ["empty"], ["front"]]


def test_question_and_choices(nlp):
    q = question_from_text("A revolving door serves as a security measure at a what?",
                           ["bank", "libraries", "department stores", "New York", "zebra crossing"])
    linking = ConceptLinker(VOCAB, nlp).run(q)
    assert names(linking.question) == ["revolving door", "security"]
    assert [names(c) for c in linking.choices] == [["bank"], ["library"], ["department store"], ["new york"], []]


def test_head_word_fallback_for_unknown_phrases(nlp):
    vocab = {"store"}
    q = question_from_text("Where?", ["grocery store", "moon"])
    assert [names(c) for c in ConceptLinker(vocab, nlp).run(q).choices] == [["store"], []]
    off = ConceptLinker(vocab, nlp, LinkingConfig(head_fallback=False))
    assert [names(c) for c in off.run(q).choices] == [["store"], []]  # n-grams still find "store" inside


def test_max_ngram_limits_span_length_but_noun_chunks_link_whole(nlp):
    vocab = {"big red fire truck", "truck"}
    with nlp.select_pipes(disable=["parser", "ner"]):  # no noun chunks: n-grams alone
        assert names(ConceptLinker(vocab, nlp).link_text("a big red fire truck")) == ["truck"]
        four = ConceptLinker(vocab, nlp, LinkingConfig(max_ngram=4))
        assert names(four.link_text("a big red fire truck")) == ["big red fire truck"]
    assert names(ConceptLinker(vocab, nlp).link_text("a big red fire truck")) == ["big red fire truck"]


def test_one_concept_key_finds_conceptnet_nodes_through_function_words(nlp):
    from kqa.graph.names import concept_key, key_of_name

    linker = ConceptLinker({"go store", "box kleenex", "store", "keep fish"}, nlp)
    found = linker.link_text("He was going to the store to buy a box of kleenex.")
    assert names(found) == ["go store", "box kleenex"]  # what ConceptNet 4 calls them
    assert [linker.link_text(t)[0].text for t in ("going to the store",)] == ["going to the store"]
    assert key_of_name("go_to_the_store") == concept_key(["go", "to", "the", "store"]) == "go store"
    # letters of any script: an imported "café" (was "caf") is the key the linker makes of the question's word
    assert key_of_name("wilbur_café_bar") == concept_key(["wilbur", "café", "bar"]) == "wilbur café bar"
    assert names(ConceptLinker({key_of_name("café")}, nlp).link_text("We met at a café.")) == ["café"]
    assert names(linker.link_text("Where would you keep a fish?")) == ["keep fish"]  # "keep" is content here


def test_overlapping_keeps_every_question_concept(nlp):
    q = question_from_text("Where is a good place to keep live fish?", ["aquarium", "oven"])
    assert names(ConceptLinker(VOCAB, nlp).run(q).question) == ["live fish"]
    overlapping = ConceptLinker(VOCAB, nlp, LinkingConfig(overlapping=True)).run(q)
    assert set(names(overlapping.question)) == {"live fish", "fish"} and names(overlapping.choices[0]) == ["aquarium"]


def test_parse_question_off_links_the_stem_by_ngrams_alone(nlp):
    vocab = {"big red fire truck", "truck", "bank"}
    q = question_from_text("Who drives a big red fire truck?", ["bank", "moon"])
    parsed = ConceptLinker(vocab, nlp).run(q)
    assert names(parsed.question) == ["big red fire truck"]  # a 4-word noun chunk: only the parser finds it
    plain = ConceptLinker(vocab, nlp, LinkingConfig(parse_question=False)).run(q)
    assert names(plain.question) == ["truck"]
    assert [names(c) for c in plain.choices] == [names(c) for c in parsed.choices] == [["bank"], []]


def test_run_links_the_given_concept_only_when_asked(nlp):
    q = replace(question_from_text("Where would you put it?", ["aquarium", "bank"]), concept="live fishes")
    linker = ConceptLinker(VOCAB, nlp)
    assert linker.run(q).given == ()
    linking = linker.run(q, given=True)
    assert names(linking.given) == names(linker.link_text("live fishes")) == ["live fish"]
    assert [names(c) for c in linking.choices] == [["aquarium"], ["bank"]]  # the concept is not taken as a choice
    assert linker.run(replace(q, concept=None), given=True).given == ()
