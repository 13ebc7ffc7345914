"""The reference SFT run of notebook 06 (peft_course.sft) on a tiny random model: the course's
settings, a trained LoRA adapter, and the mark that keeps it from earning Exercise 1's points."""

from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer

from peft_course.device import mixed_precision
from peft_course.sft import sft_config, train_sft


def test_sft_config_has_the_course_settings(tmp_path):
    args = sft_config(str(tmp_path), max_steps=3, logging_steps=1)
    assert args.completion_only_loss is True and args.max_length == 256
    assert (args.bf16, args.fp16) == (mixed_precision()["bf16"], mixed_precision()["fp16"])
    assert args.gradient_checkpointing is False and args.per_device_train_batch_size == 4
    assert args.max_steps == 3 and abs(args.learning_rate - 3e-3) < 1e-12


def test_train_sft_trains_the_adapter_only(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("PEFT_COURSE_DEVICE", "cpu")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": f"Say {i}."}],
                "completion": [{"role": "assistant", "content": f"{i}"}],
            }
            for i in range(8)
        ]
    )
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    args = sft_config(str(tmp_path), max_steps=2, logging_steps=1)
    args.disable_tqdm = True
    trainer, seconds = train_sft(
        AutoModelForCausalLM.from_pretrained(tiny_model), tokenizer, rows, lora, args
    )
    assert trainer.state.global_step == 2 and seconds > 0
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert trainer.course_reference is True
