"""Shared helpers of the evaluation tests: a model to evaluate (the bundled one when it exists, else a random
tiny LLaDA with the project's tokenizer, tiny_models.tiny_checkpoint) and subprocess plumbing."""

import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLED = os.path.join(ROOT, "models", "llada-tiny-instruct")


def eval_model_path(tmp_path_factory):
    if os.path.isfile(os.path.join(BUNDLED, "config.json")):
        return BUNDLED
    from tiny_models import tiny_checkpoint
    return tiny_checkpoint(str(tmp_path_factory.mktemp("random_llada")), weights="init")


def env():
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
                       HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", PYTHONHASHSEED="0")
    environment.pop("WORLD_SIZE", None)
    return environment


def run(command, cwd, timeout=600, extra_env=None):
    result = subprocess.run(command, cwd=cwd, env={**env(), **(extra_env or {})}, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def lm_eval_results(output_dir):
    """(results dict, {(task, doc_id): resps}) of an lm-eval --output_path directory."""
    results, samples = None, {}
    for folder, _, files in os.walk(output_dir):
        for name in files:
            path = os.path.join(folder, name)
            if name.startswith("results_"):
                with open(path) as f:
                    results = json.load(f)["results"]
            elif name.startswith("samples_"):
                task = name[len("samples_"):].rsplit("_", 1)[0]
                with open(path) as f:
                    for line in f:
                        row = json.loads(line)
                        samples[(task, row["doc_id"])] = row["resps"]
    return results, samples


def lm_eval_sample_rows(output_dir):
    """{task: [logged sample rows, by doc_id]} of an lm-eval --output_path directory run with --log_samples."""
    rows = {}
    for folder, _, files in os.walk(output_dir):
        for name in files:
            if name.startswith("samples_"):
                task = name[len("samples_"):].rsplit("_", 1)[0]
                with open(os.path.join(folder, name)) as f:
                    rows.setdefault(task, []).extend(json.loads(line) for line in f if line.strip())
    return {task: sorted(task_rows, key=lambda row: row["doc_id"]) for task, task_rows in rows.items()}


class Request:
    """What the harness reads of an lm-eval Instance: its args and its task's name."""

    def __init__(self, *args, task_name="task"):
        self.args = args
        self.task_name = task_name
