"""app.py: word constraints, error handling, fast-sampling settings and cancellation in process; then the real app
in a subprocess, used from headless Chromium as a person uses it (masks appear, then the answer; bad constraints
get a message and the app keeps serving; Clear stops a running answer and the chat stays cleared), two requests
sent at once through the queue, and --concurrency / --max_queue."""
import os
import re
import sys
import threading
import time

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from browser_demo import AppServer, chromium_path, launch_browser, last_bot_message, send, wait_for_done, \
    wait_for_step  # noqa: E402
from app import Demo, DemoError, Session, parse_constraints  # noqa: E402
from prompting import cut_answer  # noqa: E402

# the app's default settings (sliders), used to compute the answers the browser must show
DEFAULTS = dict(gen_length=64, steps=32, block_length=32, temperature=0., cfg_scale=0., remasking="low_confidence")
SCREENSHOT_DIR = os.environ.get("LLADA_SCREENSHOT_DIR")  # keep the screenshots (CI artifacts)


@pytest.fixture(scope="module")
def demo(varied_checkpoint):
    from modeling_llada import load_model_and_tokenizer
    return Demo(*load_model_and_tokenizer(varied_checkpoint, device="cpu"))


def expected_answer(demo, messages, constraints=None):
    """The answer generate() gives for this conversation at the app's default settings."""
    text = demo.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt = torch.tensor([demo.tokenizer(text, add_special_tokens=False)["input_ids"]])
    out = generate_with(demo, prompt, constraints)
    return demo.tokenizer.decode(cut_answer(out[0, prompt.shape[1]:].tolist(), demo.stop_ids),
                                 skip_special_tokens=True).strip()


def generate_with(demo, prompt, constraints):
    from generate import generate
    return generate(demo.model, prompt, mask_id=demo.mask_id, eos_id=demo.eos_id, eot_id=demo.eot_id,
                    constraints=constraints, **DEFAULTS)


def squash(text):
    """Text compared across markdown rendering: no whitespace or markdown punctuation."""
    return re.sub(r"[\s*_`#>~|\\-]", "", text)


def test_parse_constraints(tokenizer):
    one = tokenizer.encode("Once", add_special_tokens=False)
    assert parse_constraints("", tokenizer, 16) == {}
    assert parse_constraints(" , ", tokenizer, 16) == {}
    parsed = parse_constraints("0:Once, 5:upon", tokenizer, 16)
    assert [parsed[i] for i in range(len(one))] == one
    assert tokenizer.decode([parsed[i] for i in sorted(parsed) if i >= 5]) == " upon"
    for bad in ("Once", "x:Once", "3:", "-1:Once", "0:Once 5:upon"):
        with pytest.raises(DemoError, match="cannot read .* write position:word pairs"):
            parse_constraints(bad, tokenizer, 16)
    with pytest.raises(DemoError, match="past the answer"):
        parse_constraints("16:word", tokenizer, 16)
    with pytest.raises(DemoError, match="overlap"):
        parse_constraints("3:a, 3:b", tokenizer, 16)


def run_respond(demo, message, history=(), constraints="", **settings):
    values = dict(DEFAULTS, delay=0.0)
    values.update(settings)
    outputs = list(demo.respond(message, list(history), constraints, values["gen_length"], values["steps"],
                                values["block_length"], values["temperature"], values["cfg_scale"],
                                values["remasking"], values["delay"], values.get("cache", "none"),
                                values.get("threshold", "off")))
    return outputs


@pytest.mark.filterwarnings("ignore:.*:UserWarning")  # gr.Warning outside a browser session
def test_respond_streams_every_step_and_reports_errors(demo):
    outputs = run_respond(demo, "Hello there", constraints="0:The")
    steps = [view for _, _, view in outputs if "Step " in view]
    assert len(steps) == DEFAULTS["steps"]
    assert "tok mask" in steps[0] and "tok mask" not in outputs[-1][2] and "Done" in outputs[-1][2]
    assert "tok old pin" in outputs[-1][2]
    box, history, _ = outputs[-1]
    assert box == "" and [m["role"] for m in history] == ["user", "assistant"]
    the = demo.tokenizer.encode("The", add_special_tokens=False)
    assert history[1]["content"] == expected_answer(demo, history[:1], dict(enumerate(the)))
    # an error inside generate() (more blocks than steps) shows in the view; the message stays in the box
    box, failed_history, view = run_respond(demo, "Again", history, gen_length=128, block_length=8, steps=8)[-1]
    assert box == "Again" and failed_history == history and "llada-error" in view and "steps=8" in view
    # malformed constraints: a clear message, no sampling
    box, _, view = run_respond(demo, "Again", history, constraints="banana")[-1]
    assert box == "Again" and "cannot read the word constraint" in view
    # and the next request is served
    outputs = run_respond(demo, "Again", history)
    assert "Done" in outputs[-1][2] and outputs[-1][1][-1]["content"] == expected_answer(
        demo, history + [{"role": "user", "content": "Again"}])


@pytest.fixture(scope="module")
def bundled_demo():
    """The demo on the bundled trained model: confident enough for parallel decoding to save steps."""
    from modeling_llada import DEFAULT_MODEL, load_model_and_tokenizer
    if not os.path.isfile(os.path.join(DEFAULT_MODEL, "config.json")):
        pytest.skip("the bundled model is not in models/llada-tiny-instruct")
    return Demo(*load_model_and_tokenizer(DEFAULT_MODEL, device="cpu"))


def test_fast_sampling_settings_reach_generate(bundled_demo):
    """The KV-cache and threshold settings reach generate(): the answer and the number of steps are those of
    generate() in that mode (4 steps instead of 32 here), and after each block's first call the model runs on part
    of the canvas only (the cache)."""
    demo, question = bundled_demo, "What is 47 + 38?"
    widths = []
    handle = demo.model.register_forward_pre_hook(lambda module, args: widths.append(args[0].shape[1]))
    try:
        outputs = run_respond(demo, question, cache="prefix", threshold=0.9)
    finally:
        handle.remove()
    text = demo.tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                              tokenize=False)
    prompt = torch.tensor([demo.tokenizer(text, add_special_tokens=False)["input_ids"]])
    from generate import generate
    states = []
    out = generate(demo.model, prompt, mask_id=demo.mask_id, eos_id=demo.eos_id, eot_id=demo.eot_id, cache="prefix",
                   threshold=0.9, callback=lambda state: states.append(state.step), **DEFAULTS)
    expected = demo.tokenizer.decode(cut_answer(out[0, prompt.shape[1]:].tolist(), demo.stop_ids),
                                     skip_special_tokens=True).strip()
    _, history, view = outputs[-1]
    assert history[-1]["content"] == expected == "7 + 8 = 15, carry 1. 4 + 3 + 1 = 8. 47 + 38 = 85."
    taken = int(re.search(r"Done: (\d+) steps", view).group(1))
    assert taken == len(states) == len([o for o in outputs if "Step " in o[2]]) and taken < DEFAULTS["steps"] // 4
    canvas = prompt.shape[1] + DEFAULTS["gen_length"]
    assert len(widths) == taken and widths[0] == canvas and min(widths) < canvas


def test_closing_a_request_stops_its_sampling_thread(demo):
    """What Clear does to a running request (Gradio closes the event's generator): the sampling thread stops at its
    next step instead of running the remaining steps."""
    before = {t for t in threading.enumerate() if t.name == "llada-generate"}
    stream = demo.respond("Hello there", [], "", 64, 32, 32, 0., 0., "low_confidence", 0.3)  # 32 steps x 0.3 s
    next(stream)  # the masks
    assert "Step 1/32" in next(stream)[2]
    (worker,) = {t for t in threading.enumerate() if t.name == "llada-generate"} - before
    started = time.monotonic()
    stream.close()
    worker.join(timeout=5)
    assert not worker.is_alive() and time.monotonic() - started < 2


def test_clear_ends_a_running_answer_with_its_own_output(demo):
    """What Clear does before Gradio cancels the request (app.Session): the session's running answer sends none of
    its remaining steps, ends with Clear's output as its last update, and Clear returns once it has; the sampling
    thread stops. The test iterates the handler meanwhile, as Gradio does."""
    session = Session()
    before = {t for t in threading.enumerate() if t.name == "llada-generate"}
    stream = demo.respond("Hello there", [], "", 64, 32, 32, 0., 0., "low_confidence", 0.3, session=session)
    next(stream)  # the masks
    assert "Step 1/32" in next(stream)[2]
    (worker,) = {t for t in threading.enumerate() if t.name == "llada-generate"} - before
    cleared = []
    clear = threading.Thread(target=lambda: cleared.append(demo.clear(session)))
    started = time.monotonic()
    clear.start()
    rest = list(stream)
    clear.join(timeout=5)
    assert not clear.is_alive() and time.monotonic() - started < 2
    assert cleared == [demo.cleared()] and rest[-1] == demo.cleared()
    assert len(rest) <= 2 and not any("Done" in view for _, _, view in rest)  # at most one more step
    worker.join(timeout=5)
    assert not worker.is_alive()
    started = time.monotonic()
    assert demo.clear(session) == demo.cleared() and time.monotonic() - started < 0.5  # nothing running: at once


@pytest.fixture(scope="module")
def server(varied_checkpoint):
    if chromium_path() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser tests need it")
    with AppServer(varied_checkpoint) as app_server:
        yield app_server


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright  # requirements-app.txt
    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()


def screenshot_path(tmp_path, name):
    if SCREENSHOT_DIR:
        os.makedirs(SCREENSHOT_DIR, exist_ok=True)
        return os.path.join(SCREENSHOT_DIR, name)
    return str(tmp_path / name)


def test_browser_chat_shows_masks_then_the_answer(server, browser, demo, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.goto(server.url)
    send(page, "Hello, who are you?")
    page.wait_for_selector("#denoising .llada-tokens .tok.mask", timeout=60_000)  # the masks are shown ...
    status = wait_for_step(page, 0.5)
    mid = screenshot_path(tmp_path, "demo-mid.png")
    page.screenshot(path=mid, full_page=True)
    if not status.startswith("Done"):  # ... and get revealed step by step, coloured
        assert page.locator("#denoising .llada-tokens .tok.mask").count() > 0
        assert page.locator("#denoising .llada-tokens .tok.new").count() > 0
    wait_for_done(page)
    assert page.locator("#denoising .llada-tokens .tok.mask").count() == 0
    answer = expected_answer(demo, [{"role": "user", "content": "Hello, who are you?"}])
    assert squash(last_bot_message(page)) == squash(answer)
    final = screenshot_path(tmp_path, "demo-final.png")
    page.screenshot(path=final, full_page=True)
    assert os.path.getsize(mid) > 10_000 and os.path.getsize(final) > 10_000

    # a malformed constraint: a message in the view, the message is kept for a retry
    send(page, "Second question", constraints="0 The")
    page.wait_for_selector("#denoising .llada-error:has-text('cannot read the word constraint')", timeout=30_000)
    send(page, "Second question", constraints="99:word")
    page.wait_for_selector("#denoising .llada-error:has-text('past the answer')", timeout=30_000)
    # fixed: the second turn is answered with the pinned word, in the same conversation
    send(page, "Second question", constraints="0:Yes")
    wait_for_done(page)
    assert page.locator("#denoising .tok.pin").count() >= 1
    assert page.locator("#chatbot [data-testid='bot']").count() == 2
    page.locator("#clear").click()
    page.wait_for_function("document.querySelectorAll(\"#chatbot [data-testid='bot']\").length === 0")
    page.close()


def test_two_users_at_once_are_both_served(server, browser, demo):
    """Two browser sessions send at the same moment; the queue serves both, each with its own answer."""
    from gradio_client import Client
    messages = ["First user here.", "Second user, hello!"]
    results, errors = {}, []

    def ask(message):
        try:
            client = Client(server.url, verbose=False)
            job = client.submit(message, [], "", 64, 32, 32, 0, 0, "low_confidence", 0.05, "none", "off",
                                api_name="/chat")
            results[message] = (job.result(timeout=300), job.outputs())
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(m,)) for m in messages]
    pages = []
    for thread in threads:
        thread.start()
    # meanwhile, a person in the browser is served too
    page = browser.new_page()
    page.goto(server.url)
    send(page, "A third person.")
    pages.append(page)
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    for message in messages:
        (box, history, view), outputs = results[message]
        assert "Done" in view and history[-1]["role"] == "assistant"
        assert message_text(history[-1]) == expected_answer(demo, [{"role": "user", "content": message}])
        assert len(outputs) > DEFAULTS["steps"] // 2  # streamed step by step
    wait_for_done(page)
    assert squash(last_bot_message(page)) == squash(
        expected_answer(demo, [{"role": "user", "content": "A third person."}]))
    page.close()


def test_clear_during_a_generation_leaves_a_cleared_chat(server, browser, demo):
    """Clear while an answer is being denoised (10 ms per step, so updates stream fast): the chat and the view stay
    empty and say Cleared, and no later step or answer of the cancelled request shows up. Six Clears while the view
    said 'Step k/32'; on a loaded machine an answer can end before its Clear, which then must clear as well but
    does not count. Before app.Session, streamed updates of the cancelled request reached the browser after Clear's
    output and put the exchange back (6 of 8 Clears at 10 ms steps; 2 of 4 at the default 0.1 s on a busy
    machine)."""
    during_answer = 0
    for attempt in range(20):
        page = browser.new_page()
        page.goto(server.url)
        delay = page.get_by_role("spinbutton", name="Animation delay (s per step)")  # the slider's number box
        delay.fill("0.01")
        delay.press("Enter")
        send(page, "A question to interrupt.")
        status = wait_for_step(page, 0.1)
        page.locator("#clear").click()
        page.wait_for_timeout(3000)  # longer than the rest of the cancelled answer would take
        shown = status_of(page), page.locator("#chatbot [data-testid='bot']").count()
        page.close()
        assert shown[0].startswith("Cleared") and shown[1] == 0, f"attempt {attempt + 1}, Clear at {status!r}: {shown}"
        during_answer += status.startswith("Step ")
        if during_answer == 6:
            return
    pytest.fail(f"only {during_answer} of 20 answers were still running when Clear was pressed")


def status_of(page):
    return page.locator("#denoising .llada-status").inner_text()


def test_concurrency_and_max_queue(varied_checkpoint, demo):
    """app.py --concurrency 2 --max_queue 1: two requests are sampled at the same time, a third waits in the queue
    until one of them is done, and a fourth, with the queue full, is turned away with Gradio's message."""
    Client = pytest.importorskip("gradio_client").Client
    with AppServer(varied_checkpoint, extra_args=["--concurrency", "2", "--max_queue", "1"]) as app_server:
        client = Client(app_server.url, verbose=False)

        def submit(message, delay):  # 32 steps of at least `delay` seconds each
            return client.submit(message, [], "", 64, 32, 32, 0, 0, "low_confidence", delay, "none", "off",
                                 api_name="/chat")

        def wait(condition, timeout=60):
            deadline = time.monotonic() + timeout
            while not condition():
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.05)

        # One at a time: sent together, both can sit in the one-place queue before a worker takes the first, and
        # the second is then rightly turned away (seen on a loaded machine).
        first = submit("First user.", 0.5)  # 32 steps: about 16 s each
        wait(lambda: len(first.outputs()) > 2)
        second = submit("Second user.", 0.5)
        wait(lambda: len(second.outputs()) > 2)  # both streaming at once
        assert not first.done() and not second.done()
        third = submit("Third user.", 0.0)
        wait(lambda: third.status().code.name == "IN_QUEUE")
        fourth = submit("Fourth user.", 0.0)
        with pytest.raises(Exception, match="Queue is full"):
            fourth.result(timeout=60)
        assert len(third.outputs()) == 0 and not (first.done() and second.done())  # still waiting
        for job, message in ((first, "First user."), (second, "Second user."), (third, "Third user.")):
            _, history, view = job.result(timeout=120)
            assert "Done" in view
            assert message_text(history[-1]) == expected_answer(demo, [{"role": "user", "content": message}])


def message_text(message):
    from app import message_text as text
    return text(message)


def test_binds_localhost_unless_asked():
    from app import parse_args
    _, args = parse_args([])
    assert args.host == "127.0.0.1" and not args.share
    _, args = parse_args(["--host", "0.0.0.0", "--port", "8000", "--share"])
    assert (args.host, args.port, args.share) == ("0.0.0.0", 8000, True)
