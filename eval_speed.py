"""Sampling speed of an evaluation run, per task: forward passes per answer token, answer tokens per second and
wall time of generation.

The harness adapters (eval_llada.py for lm-eval, opencompass/llada_opencompass.py for OpenCompass) add every
generate() call to a SpeedRecord and write it beside their scores: speed_<date>.json beside lm-eval's
results_<date>.json, speed.json in OpenCompass's run folder (work_dir/<time>/). `python eval_speed.py PATH` prints
the table of such a file, or gathers an OpenCompass run folder's per-dataset records into its speed.json first.

Per task: answers; answer_tokens (answers x canvas length, EOS padding included, as generate() fills it);
forward_calls (model calls); row_forwards (the rows of those calls summed: an answer's own forward passes, a
CFG pair counting once); forwards_per_token = row_forwards / answer_tokens (1.0 for the reference sampler with
steps = gen_length; lower with parallel decoding, early exit and rows leaving the batch); seconds (wall time
of the generate() calls); tokens_per_s = answer_tokens / seconds. Tasks without generation (likelihood,
perplexity) have no entry.
"""

import argparse
import glob
import json
import os

COUNTS = ("answers", "answer_tokens", "forward_calls", "row_forwards")


class SpeedRecord:
    """Counts per task; `settings` (the sampler's options) is written beside them."""

    def __init__(self, settings=None):
        self.settings = dict(settings or {})
        self.tasks = {}

    def counts(self, task):
        """The running counts of a task, zero at first."""
        return self.tasks.setdefault(task, dict.fromkeys(COUNTS, 0) | {"seconds": 0.0})

    def add(self, task, answers, canvas_length, stats, seconds):
        """One generate() call: `answers` rows of `canvas_length` tokens, its `stats` dict, its wall time."""
        counts = self.counts(task)
        counts["answers"] += answers
        counts["answer_tokens"] += answers * canvas_length
        counts["forward_calls"] += stats.get("forward_calls", 0)
        counts["row_forwards"] += stats.get("row_forwards", 0)
        counts["seconds"] += seconds

    def merge(self, other_tasks, side_by_side=False):
        """Add the counts of `other_tasks` ({task: counts}). Their wall time adds up, or, for processes that ran
        side_by_side, the longest one counts."""
        for task, other in other_tasks.items():
            counts = self.counts(task)
            for key in COUNTS:
                counts[key] += other[key]
            counts["seconds"] = (max if side_by_side else sum)((counts["seconds"], other["seconds"]))

    def summary(self):
        return {"settings": self.settings, "tasks": {task: summarize(counts) for task, counts in self.tasks.items()}}

    def write(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.summary(), f, indent=1)


def summarize(counts):
    """The counts of one task with the two rates added."""
    tokens, seconds = counts["answer_tokens"], counts["seconds"]
    return dict(counts, forwards_per_token=counts["row_forwards"] / tokens if tokens else None,
                tokens_per_s=tokens / seconds if seconds else None)


def table(summary):
    """The speed of each task as a markdown table."""
    lines = ["| task | answers | forward passes / token | answer tokens / s | wall s |", "|---|---|---|---|---|"]
    for task, s in sorted(summary["tasks"].items()):
        rate = "-" if s["tokens_per_s"] is None else f"{s['tokens_per_s']:.1f}"
        passes = "-" if s["forwards_per_token"] is None else f"{s['forwards_per_token']:.3f}"
        lines.append(f"| {task} | {s['answers']} | {passes} | {rate} | {s['seconds']:.1f} |")
    return "\n".join(lines)


def gather_opencompass(run_dir):
    """speed.json of an OpenCompass run folder from the wrapper's per-prediction-file records
    (speed/<model abbr>/<file>.json, one per dataset or dataset part): tasks are named '<model abbr>/<file>'."""
    record = SpeedRecord()
    for path in sorted(glob.glob(os.path.join(run_dir, "speed", "*", "*.json"))):
        with open(path, encoding="utf-8") as f:
            part = json.load(f)
        name = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)[:-len('.json')]}"
        record.merge({name: part["counts"]})
        record.settings.setdefault(os.path.basename(os.path.dirname(path)), part["settings"])
    record.write(os.path.join(run_dir, "speed.json"))
    return record.summary()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print the speed table of a speed.json, or of an OpenCompass run "
                                                 "folder (writing its speed.json).")
    parser.add_argument("path", help="a speed.json, or an OpenCompass run folder (work_dir/<time>)")
    args = parser.parse_args(argv)
    if os.path.isdir(args.path):
        summary = gather_opencompass(args.path)
    else:
        with open(args.path, encoding="utf-8") as f:
            summary = json.load(f)
    print(table(summary))


if __name__ == "__main__":
    main()
