"""The causal-LM scorer against an obviously-correct reference: one unpadded forward per (question, choice)."""

import pytest
import torch
from transformers import Gemma3TextConfig, LlamaConfig

from kqa.attribution import explain, left_out_copies
from kqa.config import ModelConfig, ScorerConfig
from kqa.data import question_from_text
from kqa.errors import InputError
from kqa.scoring import CausalLMScorer, Packed, packed_groups, packing_obstacle
from kqa.types import Choice, Evidence, Fact, Question

QUESTIONS = [
    question_from_text("Where would you keep a live fish?", ["aquarium", "desert sand dune", "oven"], "q1"),
    question_from_text("What do you use to cut paper?", ["scissors", "a spoon", "water", "the moon"], "q2"),
]


def make_scorer(model, tokenizer, **scorer):
    return CausalLMScorer(ModelConfig(name="tiny"), ScorerConfig(**scorer), model=model, tokenizer=tokenizer)


def reference_loglik(model, ids: tuple[int, ...], n_cont: int) -> float:
    """Sum of log p(token | prefix) over the last n_cont tokens, from one plain forward pass."""
    tensor = torch.tensor([ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=tensor).logits[0, :-1], dim=-1)
    token_lp = logprobs.gather(-1, tensor[0, 1:, None])[:, 0]
    return token_lp[-n_cont:].sum().item()


@pytest.mark.parametrize("mode", ["sum", "mean", "char"])
@pytest.mark.parametrize("batch_size,shared_prefix,facts", [
    (1, False, False), (3, False, False), (16, False, False), (3, False, True), (16, True, True), (16, True, False)])
def test_batched_and_shared_prefix_scores_equal_the_naive_loop(tiny_llama, minilm_tokenizer, mode, batch_size,
                                                                shared_prefix, facts):
    scorer = make_scorer(tiny_llama, minilm_tokenizer, mode=mode, batch_size=batch_size, shared_prefix=shared_prefix,
                         use_facts=facts)
    evidence = [evidence_for(q, ["fish live in water", "an aquarium holds water"]) for q in QUESTIONS]
    scores = scorer.run(QUESTIONS, evidence)
    for question, ev, per_choice in zip(QUESTIONS, evidence, scores):
        assert len(per_choice) == len(question.choices)
        prefix = scorer.facts_prefix(ev) if facts else ""
        encoded = scorer.encode(prefix + scorer.config.template.format(question=question.stem), question)
        for choice, enc, got in zip(question.choices, encoded, per_choice):
            expected = reference_loglik(tiny_llama, enc.ids, enc.n_cont)
            if mode == "mean":
                expected /= enc.n_cont
            if mode == "char":  # lighteval's acc_norm: per character of the choice, its leading space not counted
                expected /= len(choice.text)
            assert got == pytest.approx(expected, abs=1e-4)


def forwards(model, call):
    """The input shapes of every forward pass `call()` makes."""
    shapes = []

    def record(module, args, kwargs, out):
        shapes.append(tuple(kwargs["input_ids"].shape))

    hook = model.register_forward_hook(record, with_kwargs=True)
    try:
        call()
    finally:
        hook.remove()
    return shapes


def test_prompts_sharing_their_start_are_read_in_one_packed_forward_pass(tiny_llama, minilm_tokenizer):
    shared = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=True, use_facts=True)
    evidence = [evidence_for(q, ["fish live in water"]) for q in QUESTIONS]
    contexts = [shared._context_ids(shared.facts_prefix(e) + q.stem) for q, e in zip(QUESTIONS, evidence)]
    common = next(i for i, (a, b) in enumerate(zip(*contexts)) if a != b)  # the facts block and more
    conts = [shared._choice_ids(q, i) for q in QUESTIONS for i in range(len(q.choices))]
    for q in QUESTIONS:  # no two choices of a question share a fed first token here: only the prompts are shared
        firsts = [ids[0] for ids in (shared._choice_ids(q, i) for i in range(len(q.choices))) if len(ids) > 1]
        assert len(set(firsts)) == len(firsts)
    fed = len(contexts[0]) + len(contexts[1]) - common + sum(len(c) - 1 for c in conts)
    assert forwards(tiny_llama, lambda: shared.run(QUESTIONS, evidence)) == [(1, fed)]


@pytest.mark.parametrize("mode", ["char", "pmi"])
def test_explain_reads_the_answer_and_every_left_out_copy_in_one_packed_pass(tiny_llama, minilm_tokenizer, mode):
    question = QUESTIONS[0]
    evidence = evidence_for(question, ["fish live in water", "an aquarium holds water", "ovens are hot"])
    shared = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=True, use_facts=True, mode=mode)
    shapes = forwards(tiny_llama, lambda: shared.explain(question, evidence))

    def pairs(q, ev):
        prefix = shared.facts_prefix(ev)
        prompts = [shared.prompt(prefix, q)] + ([prefix + shared.config.neutral_template] if mode == "pmi" else [])
        return [e.split() for p in prompts for e in shared.encode(p, q)]

    facts = evidence.per_choice[0]  # every choice found the same three facts, best first
    copies = [p for i in range(len(question.choices)) for q, ev in zip(*left_out_copies(question, i, facts))
              for p in pairs(q, ev)]  # every choice's K + 1 copies: which choice wins is not known yet
    # one pass; the copies share the prompt's start, and in PMI mode the neutral prompts share the facts block
    assert shapes == [(1, len(Packed.of(pairs(question, evidence) + copies).ids))]
    got = shared.explain(question, evidence)
    naive = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=False, use_facts=True, mode=mode)
    assert_same_explanation(got, naive.explain(question, evidence), abs=1e-4)  # one sequence at a time
    assert_same_explanation(got, explain(shared, question, evidence, shared.facts_read), abs=1e-5)  # generic path


def assert_same_explanation(got, expected, abs):
    assert got.label == expected.label
    assert [c.score for c in got.choices] == pytest.approx([c.score for c in expected.choices], abs=abs)
    for a, b in zip(got.choices, expected.choices):
        assert [f.attribution for f in a.evidence] == pytest.approx([f.attribution for f in b.evidence], abs=abs)
    assert any(f.attribution is not None for c in got.choices for f in c.evidence) or not expected.evidence


def test_one_pass_explain_of_prompts_cut_to_max_length(tiny_llama, minilm_tokenizer):
    """Cut prompts: a single-choice copy keeps more of its prompt than the answer does (room is left for its own
    choice only); every copy is still read in the one call, as `run` would build it."""
    scorer = make_scorer(tiny_llama, minilm_tokenizer, max_length=24, shared_prefix=True, use_facts=True)
    question = QUESTIONS[0]
    evidence = evidence_for(question, ["fish live in water " * 3, "an aquarium holds water", "ovens are hot"])
    assert len(scorer._context_ids(scorer.prompt(scorer.facts_prefix(evidence), question))) > 24  # cut
    calls = []
    original = scorer._score_shared
    scorer._score_shared = lambda pairs: calls.append(len(pairs)) or original(pairs)
    got = scorer.explain(question, evidence)
    assert len(calls) == 1  # the answer and the copies; no copy had to be run again
    assert_same_explanation(got, explain(scorer, question, evidence, scorer.facts_read), abs=1e-5)


def test_run_reads_a_pmi_prompt_and_its_neutral_prompt_in_one_packed_pass(tiny_llama, minilm_tokenizer):
    scorer = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=True, use_facts=True, mode="pmi")
    question, evidence = QUESTIONS[0], evidence_for(QUESTIONS[0], ["fish live in water", "ovens are hot"])
    prefix = scorer.facts_prefix(evidence)
    prompts = (scorer.prompt(prefix, question), prefix + "Answer:")
    pairs = [e.split() for p in prompts for e in scorer.encode(p, question)]
    assert forwards(tiny_llama, lambda: scorer.run([question], [evidence])) == [(1, len(Packed.of(pairs).ids))]


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_a_question_asked_twice_gets_its_scores_each_time(tiny_llama, minilm_tokenizer, shared_prefix):
    scorer = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=shared_prefix, mode="pmi")
    once = scorer.run(QUESTIONS)
    twice = scorer.run([QUESTIONS[0], QUESTIONS[1], QUESTIONS[0]])
    assert [len(s) for s in twice] == [3, 4, 3]
    assert twice[0] == twice[2]
    assert [x for s in twice[:2] for x in s] == pytest.approx([x for s in once for x in s], abs=1e-5)


def test_copies_not_read_in_the_answer_pass_are_run(tiny_llama, minilm_tokenizer):
    scorer = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=True, use_facts=True, mode="sum")
    question, evidence = QUESTIONS[0], evidence_for(QUESTIONS[0], ["fish live in water"])
    read = {e: float(i) for i, e in enumerate(scorer.encode(scorer.prompt(scorer.facts_prefix(evidence), question),
                                                               question))}
    assert scorer._scores_read(read, [question], [evidence]) == [(0.0, 1.0, 2.0)]  # looked up, not read again
    other = evidence_for(question, ["ovens are hot"])
    assert scorer._scores_read(read, [question], [other]) == scorer.run([question], [other])


@pytest.mark.parametrize("settings,reason", [({"shared_prefix": False}, "not read packed"),
                                             ({"use_facts": False}, "no facts")])
def test_explain_reads_copies_after_the_answer_where_one_pass_would_not_do(tiny_llama, minilm_tokenizer, settings,
                                                                          reason):
    scorer = make_scorer(tiny_llama, minilm_tokenizer, **{"use_facts": True, **settings})
    scorer.warm_up()
    assert reason in scorer.one_pass_obstacle
    question, evidence = QUESTIONS[0], evidence_for(QUESTIONS[0], ["fish live in water", "ovens are hot"])
    got, anew = scorer.explain(question, evidence), explain(scorer, question, evidence, scorer.facts_read)
    assert got.label == anew.label and [c.score for c in got.choices] == [c.score for c in anew.choices]
    for a, b in zip(got.choices, anew.choices):
        assert [f.attribution for f in a.evidence] == [f.attribution for f in b.evidence]


def test_shared_prefix_with_one_token_choices_reads_the_prompt_alone(tiny_llama, minilm_tokenizer):
    question = question_from_text("What puts out a fire?", ["water", "fire", "sand"], "q3")
    shared = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=True, mode="sum", use_facts=True)
    assert all(len(shared._choice_ids(question, i)) == 1 for i in range(3))  # nothing fed after the prompt
    naive = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=False, mode="sum", use_facts=True)
    evidence = [evidence_for(question, ["water puts out fire"])]
    assert shared.run([question], evidence)[0] == pytest.approx(naive.run([question], evidence)[0], abs=1e-4)


def test_mean_and_sum_differ_for_multi_token_choices(tiny_llama, minilm_tokenizer):
    sums = make_scorer(tiny_llama, minilm_tokenizer, mode="sum").run(QUESTIONS[:1])[0]
    means = make_scorer(tiny_llama, minilm_tokenizer, mode="mean").run(QUESTIONS[:1])[0]
    assert sums[1] != pytest.approx(means[1])  # "desert sand dune" has several tokens
    assert sums[1] < means[1]  # log-probs are negative: the sum is lower than the per-token mean


def test_long_prompts_are_cut_from_the_left_and_keep_the_choice(tiny_llama, minilm_tokenizer):
    scorer = make_scorer(tiny_llama, minilm_tokenizer, max_length=16)
    question = question_from_text("where?", ["desert sand dune", "sea"])
    long, short = scorer.encode("word " * 100 + "where?", question)
    assert scorer.config.shared_prefix
    assert len(long.ids) == 16
    cont = minilm_tokenizer(" desert sand dune", add_special_tokens=False)["input_ids"]
    assert list(long.ids[-long.n_cont:]) == cont
    assert short.ids[: -short.n_cont] == long.ids[: -long.n_cont]  # every choice after the same context
    assert scorer.run([question_from_text("word " * 300 + "?", ["a", "b"])])  # no position overflow


def evidence_for(question, texts):
    facts = tuple(Fact("h", "RelatedTo", "t", text, score=1.0 - i / 10) for i, text in enumerate(texts))
    return Evidence(question.id, tuple(facts for _ in question.choices))


def test_facts_prefix_is_shared_best_first_and_capped(tiny_llama, minilm_tokenizer):
    scorer = make_scorer(tiny_llama, minilm_tokenizer, use_facts=True, max_facts=2)
    evidence = evidence_for(QUESTIONS[0], ["fish live in water", "an aquarium holds water", "ovens are hot"])
    assert scorer.facts_prefix(evidence) == "Facts: fish live in water. an aquarium holds water.\n"
    assert scorer.facts_prefix(Evidence.empty(QUESTIONS[0])) == ""
    high, low, other = (Fact("h", "r", "t", text, score=s) for text, s in [("x", 0.9), ("x", 0.1), ("y", 0.5)])
    repeated = Evidence("q1", ((low, other), (high,), ()))  # "x" found for two choices: its best score counts
    assert make_scorer(tiny_llama, minilm_tokenizer, use_facts=True, max_facts=1).prompt_facts(repeated) == (high,)


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_pmi_divides_by_the_neutral_prompt_with_the_same_facts(tiny_llama, minilm_tokenizer, shared_prefix):
    evidence = [evidence_for(q, ["fish live in water", "scissors cut paper"]) for q in QUESTIONS]
    pmi = make_scorer(tiny_llama, minilm_tokenizer, mode="pmi", use_facts=True, shared_prefix=shared_prefix)
    scores = pmi.run(QUESTIONS, evidence)
    for question, ev, per_choice in zip(QUESTIONS, evidence, scores):
        prefix = pmi.facts_prefix(ev)
        conds = pmi.encode(prefix + pmi.config.template.format(question=question.stem), question)
        for cond, neutral, got in zip(conds, pmi.encode(prefix + "Answer:", question), per_choice):
            expected = reference_loglik(tiny_llama, cond.ids, cond.n_cont) - reference_loglik(
                tiny_llama, neutral.ids, neutral.n_cont)
            assert got == pytest.approx(expected, abs=1e-4)


def test_facts_change_scores_only_when_enabled(tiny_llama, minilm_tokenizer):
    evidence = [evidence_for(QUESTIONS[0], ["fish live in water"])]
    plain = make_scorer(tiny_llama, minilm_tokenizer).run(QUESTIONS[:1], evidence)
    ignored = make_scorer(tiny_llama, minilm_tokenizer).run(QUESTIONS[:1])
    used = make_scorer(tiny_llama, minilm_tokenizer, use_facts=True).run(QUESTIONS[:1], evidence)
    assert plain == ignored and used != plain


def test_packed_reads_a_shared_prefix_once_and_keeps_each_path_apart():
    packed = Packed.of([([5, 6, 7], [8, 9]), ([5, 6, 4], [8])])  # a shared "5 6", then each its own way
    assert packed.ids.tolist() == [5, 6, 7, 8, 4]
    assert packed.positions.tolist() == [0, 1, 2, 3, 2]  # "4" sits where it would in its own sequence
    assert packed.mask.int().tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0],
                                          [1, 1, 0, 0, 1]]  # "4" never sees "7" or "8"
    assert packed.reads == ((2, 3), (4,))  # "8" is predicted by "7", "9" by "8"; the second "8" by "4"
    pairs = [([1, 2, 3], [4]), ([1, 2, 5], [4]), ([9, 9, 9], [4])]
    assert packed_groups(pairs, budget=4) == [pairs[:2], pairs[2:]]  # 3 + 1 new tokens fit; 3 more do not
    assert packed_groups(pairs, budget=100) == [pairs]
    assert Packed.of([([1, 2], [3]), ([1, 2], [3])]).ids.tolist() == [1, 2]  # a repeated pair adds no row


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_prompts_cut_to_max_length_score_as_the_naive_loop(tiny_llama, minilm_tokenizer, shared_prefix):
    scorer = make_scorer(tiny_llama, minilm_tokenizer, max_length=24, shared_prefix=shared_prefix, use_facts=True,
                         mode="sum")
    evidence = [evidence_for(q, ["fish live in water " * 6, "an aquarium holds water " * 4]) for q in QUESTIONS]
    scores = scorer.run(QUESTIONS, evidence)
    for question, ev, per_choice in zip(QUESTIONS, evidence, scores):
        encoded = scorer.encode(scorer.facts_prefix(ev) + scorer.config.template.format(question=question.stem),
                                question)
        assert max(len(e.ids) for e in encoded) == 24  # cut: the facts alone are longer than that
        assert len({e.ids[: -e.n_cont] for e in encoded}) == 1  # every choice after the same context
        expected = [reference_loglik(tiny_llama, e.ids, e.n_cont) for e in encoded]
        assert list(per_choice) == pytest.approx(expected, abs=1e-4)


def test_a_choice_with_no_tokens_is_an_input_error(tiny_llama, minilm_tokenizer):
    question = Question("q9", "What is wet?", (Choice("A", "water"), Choice("B", "\u200b")))
    with pytest.raises(InputError, match=r"q9.*`choices\[1\]\.text`.*0 tokens"):
        make_scorer(tiny_llama, minilm_tokenizer).run([question])


def test_packing_needs_a_mask_the_attention_obeys():
    assert packing_obstacle(LlamaConfig(), 512) is None
    window = Gemma3TextConfig(sliding_window=512)
    assert packing_obstacle(window, 512) is None  # no sequence is longer than the window
    assert "sliding window (512 tokens)" in packing_obstacle(window, 1024)
    full = Gemma3TextConfig(sliding_window=8, layer_types=["full_attention"] * 26)
    assert packing_obstacle(full, 1024) is None  # a window no layer uses
    flash = LlamaConfig()
    flash._attn_implementation = "flash_attention_2"
    assert "flash_attention_2" in packing_obstacle(flash, 512)


def test_a_window_shorter_than_max_length_takes_the_batched_path(tiny_llama, minilm_tokenizer, monkeypatch, caplog):
    monkeypatch.setattr(tiny_llama.config, "sliding_window", 8, raising=False)
    shared = make_scorer(tiny_llama, minilm_tokenizer, shared_prefix=True, use_facts=True, batch_size=16)
    evidence = [evidence_for(q, ["fish live in water"]) for q in QUESTIONS]
    shapes = forwards(tiny_llama, lambda: shared.run(QUESTIONS, evidence))
    assert [rows for rows, _ in shapes] == [7]  # the 7 (prompt, choice) sequences as one padded batch
    assert "sliding window (8 tokens)" in caplog.text
