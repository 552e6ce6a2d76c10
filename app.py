"""A Gradio demo of LLaDA: chat on one side, the answer being denoised on the other.

    python app.py                                   # bundled tiny model, http://127.0.0.1:7860
    python app.py --model GSAI-ML/LLaDA-8B-Instruct # on a GPU
    python app.py --host 0.0.0.0 --port 8000        # reachable from other machines (opt-in)
    python app.py --share                           # a public gradio.live link (opt-in)

Each answer is sampled by generate() in a worker thread; generate()'s per-step callback puts the canvas
into a queue that the event handler reads, so every step reaches the browser while sampling runs. The
view shows masks dark grey, the tokens revealed at this step coloured by their confidence (< 0.3 red,
< 0.7 orange, else green), earlier tokens blue and pinned (word constraint) tokens outlined. Requests
from several users are queued; an error in one request is shown in that user's view only. Clear ends
a running answer and the chat stays cleared (see Session).

Top to bottom: what a request may hold and how it is read, the HTML of the denoising view, generate()
streamed from a worker thread, each browser session's running answers, the event handlers (Demo), the
page (build_demo) and the command line.
"""

import argparse
import contextlib
import html
import os
import queue
import re
import threading
import time

import torch

from generate import REMASKING, generate
from modeling_llada import add_loading_args, check_user_text, loading_options
from prompting import Conversation, cut_answer, model_max_length, render_canvas, special_ids

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# ---- requests ------------------------------------------------------------------------------------------

# Bounds on what a client may send, checked before any work: far beyond what fits a LLaDA context (4,096
# tokens for LLaDA-8B), small enough that a hostile request cannot hold the queue.
MAX_MESSAGE_CHARS = 16_000
MAX_HISTORY_MESSAGES = 200
MAX_HISTORY_CHARS = 200_000
MAX_CONSTRAINTS_CHARS = 2_000
CONSTRAINT_RE = re.compile(r"^\s*(\d+)\s*:\s*(\S+)\s*$")


class DemoError(ValueError):
    """A problem with one request, shown to its user."""


def check_request_size(message, history, constraints_text):
    """ValueError naming the first bound the request passes (MAX_* above)."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise ValueError(f"the message is {len(message):,} characters; the demo takes at most "
                         f"{MAX_MESSAGE_CHARS:,}")
    if len(constraints_text) > MAX_CONSTRAINTS_CHARS:
        raise ValueError(f"the word constraints are {len(constraints_text):,} characters; at most "
                         f"{MAX_CONSTRAINTS_CHARS:,}")
    if len(history) > MAX_HISTORY_MESSAGES:
        raise ValueError(f"the conversation has {len(history):,} messages; the demo keeps at most "
                         f"{MAX_HISTORY_MESSAGES}: press Clear")
    if sum(len(str(m.get("content", ""))) if isinstance(m, dict) else len(str(m)) for m in history) > \
            MAX_HISTORY_CHARS:
        raise ValueError(f"the conversation passes {MAX_HISTORY_CHARS:,} characters; press Clear")


def parse_constraints(text, tokenizer, gen_length):
    """'pos:word, pos:word' -> {answer position: token id}. A word of several tokens takes consecutive
    positions; words after position 0 get a leading space (the tokenizer's word-start form)."""
    constraints, owner = {}, {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        match = CONSTRAINT_RE.match(item)
        if not match:
            raise DemoError(f"cannot read the word constraint {item.strip()!r}: write position:word pairs (one "
                            f"word each, positions from 0) separated by commas, e.g. 0:Once, 5:upon")
        position, word = int(match.group(1)), match.group(2)
        ids = tokenizer.encode(word if position == 0 else " " + word, add_special_tokens=False)
        if not ids:
            raise DemoError(f"the word in {item.strip()!r} gives no tokens")
        last = position + len(ids) - 1
        if last >= gen_length:
            where = f"position {position}" if len(ids) == 1 else f"positions {position}..{last} ({len(ids)} tokens)"
            raise DemoError(f"the constraint {item.strip()!r} needs {where}, past the answer (positions "
                            f"0..{gen_length - 1} at gen length {gen_length}); pick a smaller position or a "
                            f"longer gen length")
        for offset, token in enumerate(ids):
            if position + offset in constraints:
                raise DemoError(f"the constraints {owner[position + offset]!r} and {item.strip()!r} overlap at "
                                f"position {position + offset}")
            constraints[position + offset] = token
            owner[position + offset] = item.strip()
    return constraints


def message_text(message):
    """Text of a chat message in Gradio's messages format (content is a string or a list of parts)."""
    content = message.get("content") if isinstance(message, dict) else message
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return "" if content is None else str(content)


def history_messages(history):
    return [{"role": m["role"], "content": message_text(m)} for m in history or []
            if isinstance(m, dict) and m.get("role") in ("user", "assistant")]


def sampling_settings(gen_length, steps, block_length, temperature, cfg_scale, remasking, cache, threshold):
    """The settings panel's values as generate()'s keyword arguments, and notes on what was adjusted."""
    gen_length, steps, block_length = int(gen_length), int(steps), int(block_length)
    notes = []
    if block_length > gen_length:
        notes.append(f"block length {block_length} > gen length: using {gen_length}")
        block_length = gen_length
    settings = dict(gen_length=gen_length, steps=steps, block_length=block_length,
                    temperature=float(temperature), cfg_scale=float(cfg_scale), remasking=remasking)
    if cache and cache != "none":  # fast sampling only when asked: without it generate() is the reference
        settings["cache"] = cache
    if threshold not in (None, "off"):  # the same meaning as generate()'s: 0 commits a whole block per step
        settings["threshold"] = float(threshold)
    return settings, notes


# ---- the denoising view --------------------------------------------------------------------------------

COLORS = {"mask": "#4a4a4a", "low": "#e53935", "mid": "#fb8c00", "high": "#43a047", "old": "#1e88e5"}
PIN_STYLE = f"outline:2px solid #7e57c2;background:{COLORS['old']}"
LEGEND = [("mask", "mask"), ("low", "new, confidence < 0.3"), ("mid", "new, < 0.7"), ("high", "new, ≥ 0.7"),
          ("old", "earlier"), ("pin", "pinned word")]
LEGEND_HTML = '<div class="legend">' + "".join(
    f'<span><span class="tok" style="{f"background:{COLORS[key]}" if key in COLORS else PIN_STYLE}">&nbsp;&nbsp;'
    f'</span> {label}</span>' for key, label in LEGEND) + "</div>"
CSS = """
#denoising .llada-view {font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 14px;}
#denoising .llada-tokens {line-height: 2.0; white-space: pre-wrap; word-break: break-word; min-height: 120px;
  padding: 8px; border: 1px solid #ddd; border-radius: 6px; background: #fafafa;}
#denoising .tok {color: white; border-radius: 4px; padding: 1px 2px; margin: 0 1px;}
#denoising .tok.mask {color: #bbbbbb; font-size: 11px;}
#denoising .tok.pin {outline: 2px solid #7e57c2;}
#denoising .tok.cut {opacity: 0.35;}
#denoising .llada-status {margin: 6px 0; color: #555;}
#denoising .llada-error {margin: 6px 0; padding: 8px; border-radius: 6px; background: #fdecea; color: #b71c1c;}
#denoising .legend > span {margin-right: 10px; font-size: 12px; white-space: nowrap; display: inline-block;}
"""


class DenoisingView:
    """The HTML of the denoising view (styled by CSS): an error and a status line, the answer canvas as one
    coloured span per token, then the legend."""

    def __init__(self, tokenizer, mask_id, eos_id, eot_id):
        self.tokenizer, self.mask_id = tokenizer, mask_id
        self.stop_ids = {eos_id, eot_id}
        self.special = {eos_id: "<eos>", eot_id: "<eot>"}

    def render(self, answer=None, new=None, confidence=None, pinned=(), status="", error=None):
        """answer: list of ids; new: list of bool (revealed at this step); confidence: list of floats; pinned:
        positions pinned by word constraints. Tokens after the first stop token are faded."""
        parts = ['<div class="llada-view">']
        if error:
            parts.append(f'<div class="llada-error">⚠ {html.escape(error)}</div>')
        if status:
            parts.append(f'<div class="llada-status">{html.escape(status)}</div>')
        parts.append('<div class="llada-tokens">')
        stopped = False
        for i, token in enumerate(answer or []):
            revealed = new is not None and new[i]
            parts.append(self.token_span(token, i in pinned, confidence[i] if revealed else None, stopped))
            stopped = stopped or token in self.stop_ids
        parts.append("</div>" + LEGEND_HTML + "</div>")
        return "".join(parts)

    def token_span(self, token, pinned, confidence, cut):
        """One token's span; confidence: None unless the token was revealed at this step."""
        if token == self.mask_id:
            kind, color, title = "mask", COLORS["mask"], "masked"
        elif pinned:
            kind, color, title = "old pin", COLORS["old"], "pinned by a word constraint"
        elif confidence is not None:
            level = "low" if confidence < 0.3 else "mid" if confidence < 0.7 else "high"
            kind, color, title = f"new {level}", COLORS[level], f"revealed now, confidence {confidence:.2f}"
        else:
            kind, color, title = "old", COLORS["old"], "revealed earlier"
        text = "[MASK]" if token == self.mask_id else self.token_text(token)
        return (f'<span class="tok {kind}{" cut" if cut else ""}" style="background:{color}" title="{title}">'
                f'{html.escape(text)}</span>')

    def token_text(self, token):
        if token in self.special:
            return self.special[token]
        return self.tokenizer.decode([token], skip_special_tokens=False)


# ---- generate() streamed from a worker thread ----------------------------------------------------------

# How often a reader waiting for the next step looks whether it was cancelled (seconds): a cancelled answer
# ends this soon even when one step of a large model takes much longer.
CANCEL_POLL_S = 0.05


class Cancelled(Exception):
    """Raised in generate()'s callback to stop sampling when the request went away."""


def stream_generate(model, prompt_ids, generate_kwargs, delay, cancel):
    """Run generate(model, prompt_ids, **generate_kwargs) in a worker thread; yield ('step', (step, block, answer
    ids, revealed-now flags, confidences)) per step, then ('done', answer ids) or ('error', exception).

    Once `cancel` (a threading.Event) is set, the next thing yielded is ('cancelled', None), within
    CANCEL_POLL_S, and the steps still queued are dropped; the worker stops at its next step. Closing the
    generator sets `cancel`. `delay` (seconds per step) paces the sampling itself, so the view stays live."""
    prompt = torch.tensor([prompt_ids], dtype=torch.long, device=model.device)
    states = queue.Queue()
    worker = threading.Thread(target=sample_into, args=(model, prompt, generate_kwargs, delay, cancel, states),
                              name="llada-generate", daemon=True)
    worker.start()
    try:
        while not cancel.is_set():
            try:
                kind, payload = states.get(timeout=CANCEL_POLL_S)
            except queue.Empty:
                continue
            if cancel.is_set():
                break
            yield kind, payload
            if kind != "step":
                return
        yield "cancelled", None
    finally:
        cancel.set()


def sample_into(model, prompt, generate_kwargs, delay, cancel, states):
    """stream_generate()'s worker: generate() with a callback that puts each step into the queue `states`."""
    prompt_len = prompt.shape[1]

    def callback(state):
        if cancel.is_set():
            raise Cancelled()
        started = time.monotonic()
        states.put(("step", (state.step, state.block, state.x[0, prompt_len:].tolist(),
                             state.committed[0, prompt_len:].tolist(),
                             state.confidence[0, prompt_len:].float().tolist())))
        if delay > 0:
            cancel.wait(max(0.0, delay - (time.monotonic() - started)))

    try:
        out = generate(model, prompt, callback=callback, **generate_kwargs)
        states.put(("done", out[0, prompt_len:].tolist()))
    except Cancelled:
        pass  # the reader reports it
    except Exception as error:  # reported to this request's user; the app keeps serving
        states.put(("error", error))


# ---- each browser session's running answers ------------------------------------------------------------

# The longest Clear waits for the running answers of its session to end (seconds). They end within
# CANCEL_POLL_S plus one update; past this Gradio's cancellation closes them (see Session).
CLEAR_WAIT_S = 10.0


class RunningAnswer:
    """One running answer of a Session: `cancel` stops its sampling; `cleared` says that Clear ended it."""

    def __init__(self):
        self.cancel = threading.Event()
        self.cleared = False


class Session:
    """The answers running in one browser session (a gr.State), so that Clear can end them itself.

    Gradio's cancellation alone (Clear's `cancels=`) let the cancelled exchange come back: the browser applies
    Clear's output, which comes on Clear's own HTTP response, and only then asks the server to cancel the request,
    whose updates travel on the session's event stream; those sent in the meantime, or already on their way,
    landed after Clear's output. So Clear first ends each running answer of its session here: the answer drops
    the steps it has not sent, sends Clear's output as its own last update, and Clear returns only once it has.
    Both streams then end with the cleared chat, whichever order the browser gets them in. Gradio's cancellation
    still removes the requests waiting in the queue."""

    def __init__(self):
        self._running = set()
        self._changed = threading.Condition()

    def __deepcopy__(self, memo):
        """gr.State gives each browser session a deep copy of its value: a new Session (locks cannot be copied)."""
        return Session()

    @contextlib.contextmanager
    def answering(self):
        """Register a running answer for the duration of the block; yields its RunningAnswer."""
        running = RunningAnswer()
        with self._changed:
            self._running.add(running)
        try:
            yield running
        finally:
            with self._changed:
                self._running.discard(running)
                self._changed.notify_all()

    def clear(self, timeout=CLEAR_WAIT_S):
        """End every running answer and wait until each has sent its last update (at most `timeout` seconds)."""
        with self._changed:
            for running in self._running:
                running.cleared = True
                running.cancel.set()
            self._changed.wait_for(lambda: not self._running, timeout)


# ---- the event handlers --------------------------------------------------------------------------------

class Demo:
    """The model, the tokenizer and the demo's event handlers: respond() streams an answer, clear() ends it and
    empties the chat."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        ids = special_ids(model, tokenizer)
        self.mask_id, self.eos_id, self.eot_id, self.stop_ids = ids.mask, ids.eos, ids.eot, ids.stops
        self.max_length = model_max_length(model)
        self.view = DenoisingView(tokenizer, self.mask_id, self.eos_id, self.eot_id)

    def stream(self, prompt_ids, settings, constraints, delay, cancel):
        """stream_generate() on this model: settings are generate()'s sampling options."""
        return stream_generate(self.model, prompt_ids, dict(settings, constraints=constraints, mask_id=self.mask_id,
                                                            eos_id=self.eos_id, eot_id=self.eot_id), delay, cancel)

    def partial_answer(self, answer):
        """The answer as text so far: decoded tokens with ░ for masks, up to the first stop token."""
        return render_canvas(self.tokenizer, answer, self.mask_id, self.stop_ids)

    def respond(self, message, history, constraints_text, gen_length, steps, block_length, temperature,
                cfg_scale, remasking, delay, cache="none", threshold="off", session=None):
        """Event handler (a generator): yields (textbox, chat history, denoising view) as sampling runs.

        session: the browser session's Session; when a Clear there ends this answer, the last update is Clear's."""
        with (session or Session()).answering() as running:
            updates = self._updates(running.cancel, message, history, constraints_text, gen_length, steps,
                                    block_length, temperature, cfg_scale, remasking, delay, cache, threshold)
            with contextlib.closing(updates):
                for update in updates:
                    if running.cleared:
                        break
                    yield update
            if running.cleared:
                yield self.cleared()

    def _updates(self, cancel, message, history, constraints_text, gen_length, steps, block_length, temperature,
                 cfg_scale, remasking, delay, cache, threshold):
        """respond()'s updates: one that refuses the request (the message stays in the box), or the answer's."""
        import gradio as gr

        history = list(history or [])
        message = (message or "").strip()
        try:
            check_request_size(message, history, constraints_text or "")
        except ValueError as error:
            gr.Warning(str(error))
            yield message, history[-MAX_HISTORY_MESSAGES:], self.view.render(error=str(error))
            return
        if not message:
            gr.Warning("Type a message first.")
            yield "", history, self.view.render(status="Type a message to start.")
            return
        settings, notes = sampling_settings(gen_length, steps, block_length, temperature, cfg_scale, remasking,
                                            cache, threshold)
        try:
            constraints = parse_constraints(constraints_text, self.tokenizer, settings["gen_length"])
            conversation, dropped = self._conversation(history, message, settings["gen_length"])
        except ValueError as error:
            gr.Warning(str(error))
            yield message, history, self.view.render(error=str(error))
            return
        if dropped:
            notes.append(f"the {dropped} oldest messages were left out to fit the model's {self.max_length}-token "
                         f"context")
            gr.Info(notes[-1])
        history = history + [{"role": "user", "content": message}]
        note = ("; " + "; ".join(notes)) if notes else ""
        yield from self._answer_updates(history, conversation.ids, settings, constraints, note, float(delay), cancel)

    def _conversation(self, history, message, gen_length):
        """The chat so far plus the new message, as a Conversation cut to fit the context; and the number of
        messages left out. ValueError for a message holding a control token of the chat format."""
        conversation = Conversation(self.tokenizer, self.max_length)
        conversation.messages = history_messages(history)
        for earlier in conversation.messages:  # the history comes from the client: forged turns stop here
            check_user_text(self.tokenizer, earlier["content"])
        conversation.add_user(message)
        return conversation, conversation.fit(gen_length)

    def _answer_updates(self, history, prompt_ids, settings, constraints, note, delay, cancel):
        """The updates while the answer is sampled: the masks, each step, then the answer (or the error, the
        user's message put back in the box). history ends with the user's message."""
        import gradio as gr

        pinned = set(constraints)
        answer = [constraints.get(i, self.mask_id) for i in range(settings["gen_length"])]
        yield "", history + [{"role": "assistant", "content": self.partial_answer(answer)}], self.view.render(
            answer, pinned=pinned, status=f"Prompt: {len(prompt_ids)} tokens; sampling...{note}")
        started, taken = time.monotonic(), 0
        blocks = settings["gen_length"] // settings["block_length"]
        for kind, payload in self.stream(prompt_ids, settings, constraints, delay, cancel):
            if kind == "step":
                step, block, answer, new, confidence = payload
                taken = step + 1
                status = f"Step {step + 1}/{settings['steps']} · block {block + 1}/{blocks}{note}"
                yield "", history + [{"role": "assistant", "content": self.partial_answer(answer)}], self.view.render(
                    answer, new, confidence, pinned, status)
            elif kind == "done":
                text = self.tokenizer.decode(cut_answer(payload, self.stop_ids), skip_special_tokens=True).strip()
                status = f"Done: {taken} steps in {time.monotonic() - started:.1f} s{note}"
                yield "", history + [{"role": "assistant", "content": text}], self.view.render(
                    payload, pinned=pinned, status=status)
            elif kind == "error":
                error = str(payload) if isinstance(payload, ValueError) else f"{type(payload).__name__}: {payload}"
                gr.Warning(error)
                yield history[-1]["content"], history[:-1], self.view.render(error=error)
            # 'cancelled': the request went away, or Clear ended it (respond() shows Clear's output)

    def clear(self, session=None):
        """Clear's event handler: ends the running answers of the session (see Session), then empties the chat."""
        if session is not None:
            session.clear()
        return self.cleared()

    def cleared(self):
        """Clear's output: an empty box and chat, and a view that says so."""
        return "", [], self.view.render(status="Cleared. Type a message to start.")


# ---- the page ------------------------------------------------------------------------------------------

def build_demo(demo):
    import gradio as gr

    with gr.Blocks(title="LLaDA demo", analytics_enabled=False) as blocks:
        gr.Markdown("# LLaDA: a masked diffusion language model\nThe answer starts as masks and is denoised "
                    "step by step; the right panel shows each step.")
        session = gr.State(Session())
        with gr.Row():
            with gr.Column(scale=1):
                chatbot = gr.Chatbot(label="Chat", height=420, elem_id="chatbot")
                with gr.Row():
                    message = gr.Textbox(placeholder="Type a message and press Enter", show_label=False, scale=4,
                                         elem_id="message", autofocus=True, max_length=MAX_MESSAGE_CHARS)
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                constraints = gr.Textbox(label="Word constraints", elem_id="constraints",
                                         max_length=MAX_CONSTRAINTS_CHARS,
                                         placeholder="position:word, ... e.g. 0:Once, 5:upon (answer positions "
                                                     "from 0)")
                clear = gr.Button("Clear", elem_id="clear")
            with gr.Column(scale=1):
                gr.Markdown("**Denoising** (the answer canvas at each step)")
                view = gr.HTML(demo.view.render(status="Type a message to start."), elem_id="denoising")
                with gr.Accordion("Settings", open=True):
                    gen_length = gr.Slider(16, 128, value=64, step=8, label="Gen length (tokens)")
                    steps = gr.Slider(8, 64, value=32, step=4, label="Steps")
                    block_length = gr.Slider(8, 128, value=32, step=8, label="Block length")
                    temperature = gr.Slider(0, 1, value=0, step=0.05, label="Temperature (0 = greedy)")
                    cfg_scale = gr.Slider(0, 2, value=0, step=0.1, label="CFG scale")
                    remasking = gr.Radio(list(REMASKING), value="low_confidence", label="Remasking")
                    delay = gr.Slider(0, 1, value=0.1, step=0.05, label="Animation delay (s per step)")
                with gr.Accordion("Fast sampling (Fast-dLLM)", open=False):
                    cache = gr.Radio(["none", "prefix", "dual"], value="none", label="KV cache (approximate)")
                    threshold = gr.Dropdown(["off", 0.95, 0.9, 0.8, 0.7, 0.5, 0.0], value="off",
                                            label="Parallel decoding: commit every masked position above this "
                                                  "confidence (steps become a maximum; 0: a whole block per step)")
        inputs = [message, chatbot, constraints, gen_length, steps, block_length, temperature, cfg_scale,
                  remasking, delay, cache, threshold, session]
        outputs = [message, chatbot, view]
        submitted = message.submit(demo.respond, inputs, outputs, api_name="chat")
        clicked = send.click(demo.respond, inputs, outputs, api_name=False)
        # Clear's handler runs first; the browser sends the cancellation after applying its output (see Session)
        clear.click(demo.clear, [session], outputs, cancels=[submitted, clicked], queue=False, api_name=False)
    return blocks


# ---- the command line ----------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Gradio demo: chat with LLaDA and watch the denoising.")
    parser.add_argument("--model", default=None, help="HF id or local path (default: the bundled tiny model)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the first available)")
    parser.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--adapter", default=None,
                        help="a LoRA adapter directory (train.py --lora_r), merged into --model (default: its base)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860, or the next free one)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="requests sampled at once; the others wait in the queue (default 1)")
    parser.add_argument("--max_queue", type=int, default=64, help="most requests waiting at once")
    return parser, add_loading_args(parser).parse_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    import gradio as gr

    from modeling_llada import load_for_script
    model, tokenizer = load_for_script(parser, args.model, device=args.device, dtype=args.dtype,
                                       adapter=args.adapter, **loading_options(args))
    blocks = build_demo(Demo(model, tokenizer))
    blocks.queue(default_concurrency_limit=args.concurrency, max_size=args.max_queue)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])  # no web fonts: works offline
    blocks.launch(server_name=args.host, server_port=args.port, share=args.share, theme=theme, css=CSS,
                  show_error=True)


if __name__ == "__main__":
    main()
