"""The offline lm-eval arithmetic task (llada_arith, 300 held-out questions) with the bundled model in several
sampling modes side by side: score, forward passes per answer token, answer tokens per second and wall time.

Each mode is one `python eval_llada.py --tasks llada_arith ... --log_samples` run (a fresh process, the same
model_args plus the mode's fast options); the score comes from lm-eval's results file, the speed from the speed file
eval_llada.py writes beside it, and "= reference" is the share of answers (the text scored) equal to the reference
mode's. Default model_args: EVAL.md's command for the bundled model (96 tokens in blocks of 32, one token per
step, batch 64, EOS/EoT committed last, answers cut at their first EOS).

  python benchmarks/bench_lm_eval.py                      # reference, exact, fastest; all 300 questions
  python benchmarks/bench_lm_eval.py --limit 100 --modes reference fastest

Writes benchmarks/results/<tag>.md (the table) and <tag>.json.
"""

import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASE_ARGS = "gen_length=96,steps=96,block_length=32,batch_size=64,confidence_eos_eot_inf=True,cut_at_eos=True"
# name -> fast options (model_args). 'exact' is token-identical to the reference; 'fastest' is the fastest mode of
# benchmarks/bench_generate.py on this model (dual cache + threshold 0.9), with early exit.
MODES = {
    "reference": "",
    "exact": "block_logits=True,early_exit=True",
    "fastest": "cache=dual,threshold=0.9,early_exit=True",
}


def run_mode(name, args, out_dir):
    """One eval_llada.py run: its score, speed, process wall time, and its answers by document."""
    model_args = ",".join(part for part in (f"model_path={args.model}", args.model_args, MODES[name]) if part)
    command = [sys.executable, os.path.join(ROOT, "eval_llada.py"), "--tasks", "llada_arith", "--apply_chat_template",
               "--log_samples", "--output_path", out_dir, "--model_args", model_args]
    command += ["--limit", str(args.limit)] if args.limit else []
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               TOKENIZERS_PARALLELISM="false", HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    with open(out_dir + ".log", "w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    seconds = time.perf_counter() - start
    (results_path,) = glob.glob(os.path.join(out_dir, "*", "results_*.json"))
    speed_path = os.path.join(os.path.dirname(results_path),
                              "speed_" + os.path.basename(results_path)[len("results_"):])
    with open(results_path) as f:
        results = json.load(f)["results"]["llada_arith"]
    with open(speed_path) as f:
        speed = json.load(f)["tasks"]["llada_arith"]
    (samples_path,) = glob.glob(os.path.join(os.path.dirname(results_path), "samples_llada_arith_*.jsonl"))
    with open(samples_path) as f:
        answers = {row["doc_id"]: row["filtered_resps"] for row in map(json.loads, f)}
    return dict(mode=name, model_args=model_args, exact_match=results["exact_match,none"],
                stderr=results["exact_match_stderr,none"], process_seconds=seconds, answers_by_doc=answers, **speed)


def write_table(rows, args, path):
    lines = ["| mode | fast options | exact match | = reference | forward passes / token | answer tokens / s | "
             "speedup | generation wall s | process wall s |", "|---|---|---|---|---|---|---|---|---|"]
    base = rows[0]
    for r in rows:
        same = sum(r["answers_by_doc"][doc] == answer for doc, answer in base["answers_by_doc"].items())
        lines.append(f"| {r['mode']} | {MODES[r['mode']] or '-'} | {100 * r['exact_match']:.1f} ± "
                     f"{100 * r['stderr']:.1f} ({r['answers']}) | {same}/{len(base['answers_by_doc'])} | "
                     f"{r['forwards_per_token']:.3f} | {r['tokens_per_s']:.1f} | "
                     f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x | {r['seconds']:.1f} | "
                     f"{r['process_seconds']:.1f} |")
    lines += ["", f"Command: `{args.command}`; model_args `{args.model_args}`, {args.threads} thread(s).", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "llada-tiny-instruct"))
    parser.add_argument("--model-args", default=BASE_ARGS, help="model_args shared by every mode")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--limit", type=int, default=None, help="first N questions (default: all 300)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each run (OMP_NUM_THREADS)")
    parser.add_argument("--work", default=os.path.join(ROOT, "runs", "bench_lm_eval"), help="lm-eval output folders")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--tag", default="lm-eval-arith")
    args = parser.parse_args(argv)
    args.command = "python benchmarks/bench_lm_eval.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    modes = args.modes if "reference" in args.modes else ["reference"] + args.modes
    run_dir = os.path.join(args.work, time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(run_dir)
    rows = []
    for name in modes:
        print(f"{name}: eval_llada.py ... (log: {os.path.join(run_dir, name)}.log)", flush=True)
        rows.append(run_mode(name, args, os.path.join(run_dir, name)))
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, args.tag)
    text = write_table(rows, args, stem + ".md")
    with open(stem + ".json", "w") as f:
        json.dump(dict(command=args.command, model_args=args.model_args, threads=args.threads, results=rows), f,
                  indent=1)
    print(text)
    print(f"wrote {stem}.md, {stem}.json")


if __name__ == "__main__":
    main()
