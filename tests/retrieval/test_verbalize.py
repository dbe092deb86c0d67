import pytest

from kqa.retrieval.verbalize import TEMPLATES, relation_phrase, verbalize, with_article

CASES = {
    "IsA": ("dog", "animal", "a dog is an animal"),
    "InstanceOf": ("paris", "city", "paris is an instance of a city"),
    "HasA": ("bird", "wing", "a bird has a wing"),
    "PartOf": ("wheel", "car", "a wheel is part of a car"),
    "MadeOf": ("table", "wood", "a table is made of wood"),
    "AtLocation": ("fish", "aquarium", "a fish is located at an aquarium"),
    "LocatedNear": ("chair", "table", "a chair is near a table"),
    "UsedFor": ("knife", "cutting", "a knife is used for cutting"),
    "CapableOf": ("bird", "fly", "a bird can fly"),
    "NotCapableOf": ("fish", "walk", "a fish cannot walk"),
    "ReceivesAction": ("book", "read", "a book can be read"),
    "Causes": ("rain", "flood", "rain causes flood"),
    "CausesDesire": ("hunger", "eat", "hunger makes you want to eat"),
    "HasSubevent": ("eating", "chewing", "eating involves chewing"),
    "HasFirstSubevent": ("cooking", "heat pan", "cooking starts with heat pan"),
    "HasLastSubevent": ("meal", "dessert", "meal ends with dessert"),
    "HasPrerequisite": ("driving", "license", "driving requires license"),
    "HasProperty": ("ice", "cold", "an ice is cold"),
    "NotHasProperty": ("fire", "cold", "a fire is not cold"),
    "MotivatedByGoal": ("study", "pass exam", "study is motivated by pass exam"),
    "Desires": ("cat", "milk", "a cat wants milk"),
    "NotDesires": ("cat", "bath", "a cat does not want bath"),
    "CreatedBy": ("cake", "baker", "a cake is created by a baker"),
    "DefinedAs": ("noon", "midday", "noon is defined as midday"),
    "Antonym": ("hot", "cold", "hot is the opposite of cold"),
    "Synonym": ("car", "automobile", "car means the same as automobile"),
    "SimilarTo": ("mug", "cup", "mug is similar to cup"),
    "DistinctFrom": ("cat", "dog", "cat is distinct from dog"),
    "DerivedFrom": ("runner", "run", "runner is derived from run"),
    "RelatedTo": ("fish", "water", "fish is related to water"),
    "FormOf": ("ran", "run", "ran is a form of run"),
    "MannerOf": ("sprint", "run", "sprint is a way to run"),
    "Entails": ("snore", "sleep", "snore entails sleep"),
    "SymbolOf": ("dove", "peace", "dove is a symbol of peace"),
}


def test_every_template_has_a_case():
    assert set(CASES) == set(TEMPLATES)


@pytest.mark.parametrize("relation", sorted(CASES))
def test_template_per_relation(relation):
    head, tail, expected = CASES[relation]
    assert verbalize(head, relation, tail) == expected


@pytest.mark.parametrize("phrase,expected", [
    ("apple", "an apple"), ("unicorn", "a unicorn"), ("hour", "an hour"), ("ice cream", "an ice cream"),
    ("dogs", "dogs"), ("glass", "a glass"), ("New York", "New York"), ("the sea", "the sea"), ("3 apples", "3 apples"),
])
def test_articles(phrase, expected):
    assert with_article(phrase) == expected


@pytest.mark.parametrize("relation,expected", [
    ("eat", "eats"), ("watch", "watches"), ("carry", "carries"), ("play", "plays"), ("have", "has"),
    ("HasSubeventOf", "has subevent of"), ("located_in", "located in"),
])
def test_unknown_relations_fall_back_to_readable_words(relation, expected):
    assert relation_phrase(relation) == expected
    assert verbalize("cat", relation, "mouse") == f"a cat {expected} mouse"
