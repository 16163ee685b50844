"""Shared pieces of the collator tests: tokenized rows as a Dataset, a tiny Trainer run's arguments."""

from torch.utils.data import Dataset
from transformers import TrainingArguments


class TokenizedRows(Dataset):
    """Tokenized texts, one feature dict per text, with their index as example id if asked
    (what ``datasets``' ``with_indices`` gives)."""

    def __init__(self, tokenizer, texts, *, with_ids=True, offsets=False, pad_to=None):
        padding = {"padding": "max_length", "max_length": pad_to} if pad_to else {}
        enc = tokenizer(list(texts), return_offsets_mapping=offsets, **padding)
        self.rows = [{k: enc[k][i] for k in enc} for i in range(len(texts))]
        if with_ids:
            for i, row in enumerate(self.rows):
                row["example_id"] = i

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def trainer_args(output_dir, **overrides) -> TrainingArguments:
    """A 2-epoch, batch-4 CPU Trainer run that keeps every column (example ids) and saves nothing."""
    settings = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        num_train_epochs=2,
        report_to=[],
        use_cpu=True,
        remove_unused_columns=False,
        save_strategy="no",
        dataloader_num_workers=0,
    )
    return TrainingArguments(**(settings | overrides))
