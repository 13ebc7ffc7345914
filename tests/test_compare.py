"""peft_course.compare: notebook 09's live runs and its reading of the committed method table."""

from __future__ import annotations

import pytest

from peft_course.compare import live_check, method_results, method_table, run_method
from peft_course.methods import METHODS


def test_committed_table_has_every_method_with_three_seeds():
    table = method_table(method_results())
    assert list(table.index) == list(METHODS)  # the table's order
    assert (table["seeds"] >= 3).all()
    assert (table["em_min"] <= table["exact_match"]).all()
    assert (table["exact_match"] <= table["em_max"]).all()
    assert table.loc["lora", "trainable"] == 921_600


def test_live_check_is_inside_only_within_the_range_and_its_tolerance():
    table = method_table(method_results())
    lo, hi = table.loc["lora", "em_min"], table.loc["lora", "em_max"]
    assert live_check({"method": "lora", "seed": 0, "exact_match": lo}, table)[0]
    assert live_check({"method": "lora", "seed": 0, "exact_match": hi + 1 / 32}, table)[0]
    inside, msg = live_check({"method": "lora", "seed": 0, "exact_match": hi + 2 / 32}, table)
    assert not inside and "OUTSIDE" in msg and "make bench-methods" in msg


def test_missing_results_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="make bench-methods"):
        method_results(tmp_path)


def test_run_method_rejects_an_unknown_budget_key():
    with pytest.raises(TypeError, match="budget keys"):
        run_method("lora", 0, epochs=3)


def test_run_method_trains_a_given_config(tiny_model):
    from peft import IA3Config

    config = IA3Config(target_modules=["v_proj"], feedforward_modules=[], task_type="CAUSAL_LM")
    budget = {"steps": 2, "batch": 2, "eval_rows": 2}
    record, model = run_method("ia3", 0, config=config, model_name=str(tiny_model), **budget)
    assert record["method"] == "ia3" and record["settings"]["learning_rate"] == 3e-2
    assert record["trainable_params"] == 2 * 32  # v_proj's 32 outputs in each of 2 layers
    assert record["trainable_without_grad"] == 0 and len(record["losses"]) == 2
    assert record["train_peak_extra_mib"] >= 0 and record["eval_n"] == 2
    assert sorted({n.split(".")[-2] for n, p in model.named_parameters() if p.requires_grad}) == [
        "ia3_l"
    ]
