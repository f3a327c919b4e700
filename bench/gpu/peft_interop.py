#!/usr/bin/env python3
"""Issue 18's interop check, the half that needs PEFT: bench/gpu/peft_interop.py DIR [RESULT_JSON].

DIR is what org.tune4j.bench.PeftInterop wrote: base/ (a Hugging Face BERT checkpoint, random weights), adapter/ (a
PEFT LoRA adapter on its query and value, tune4j's classifier head beside it in classifier.safetensors) and
expected.safetensors (padded input ids, attention mask, and tune4j's last_hidden_state and logits on them).
transformers loads base/ as a BertModel, PEFT puts adapter/ on it; its last_hidden_state (real tokens only: tune4j
does not define the rows of padding) and the logits of tune4j's head over its mean pooling are compared with tune4j's,
then again after PEFT merges the adapter. Prints one JSON line; exit 1 when a difference is above 1e-4."""
import json
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import BertModel


def compare(model, expected, head):
    ids = expected["input_ids"].long()
    mask = expected["attention_mask"].long()
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state  # [batch, seq, hidden]
    ours = expected["last_hidden_state"].reshape(hidden.shape)
    real = mask.bool()
    hidden_diff = (hidden[real] - ours[real]).abs().max().item()
    m = mask.unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1)
    logits = pooled @ head["classifier.weight"].T + head["classifier.bias"]
    logits_diff = (logits - expected["logits"]).abs().max().item()
    return hidden_diff, logits_diff


def main():
    d = sys.argv[1]
    expected = load_file(f"{d}/expected.safetensors")
    head = load_file(f"{d}/adapter/classifier.safetensors")
    torch.manual_seed(0)
    base = BertModel.from_pretrained(f"{d}/base", add_pooling_layer=False, attn_implementation="eager").float().eval()
    model = PeftModel.from_pretrained(base, f"{d}/adapter").eval()
    hidden_diff, logits_diff = compare(model, expected, head)
    merged = model.merge_and_unload().eval()
    merged_hidden_diff, merged_logits_diff = compare(merged, expected, head)
    import peft
    import transformers
    result = {
        "check": "PEFT loads tune4j's adapter",
        "peft": peft.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
        "max_abs_last_hidden_state": hidden_diff, "max_abs_logits": logits_diff,
        "merged_max_abs_last_hidden_state": merged_hidden_diff, "merged_max_abs_logits": merged_logits_diff,
        "tolerance": 1e-4,
    }
    result["ok"] = max(hidden_diff, logits_diff, merged_hidden_diff, merged_logits_diff) <= 1e-4
    print(json.dumps(result))
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump(result, f, indent=1)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
