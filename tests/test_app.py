"""app.py: word constraints and error handling in process; then the real app in a subprocess, used from
headless Chromium as a person uses it (masks appear, then the answer; bad constraints get a message and the
app keeps serving), and two requests sent at once through the queue."""
import os
import re
import threading

import pytest
import torch

from browser_demo import AppServer, chromium_path, launch_browser, last_bot_message, send, wait_for_done, \
    wait_for_step
from app import Demo, DemoError, parse_constraints  # noqa: E402
from chat import cut_answer  # noqa: E402

# the app's default settings (sliders), used to compute the answers the browser must show
DEFAULTS = dict(gen_length=64, steps=32, block_length=32, temperature=0., cfg_scale=0., remasking="low_confidence")
SCREENSHOT_DIR = os.environ.get("LLADA_SCREENSHOT_DIR")  # keep the screenshots (CI artifacts)


@pytest.fixture(scope="module")
def demo(checkpoint):
    from modeling_llada import load_model_and_tokenizer
    return Demo(*load_model_and_tokenizer(checkpoint, device="cpu"))


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
                                values.get("threshold", 0)))
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
    # and the next request is served, here with fast sampling (KV cache + parallel decoding)
    outputs = run_respond(demo, "Again", history, cache="prefix", threshold=0.5)
    assert "Done" in outputs[-1][2] and len(outputs) - 2 <= DEFAULTS["steps"]


@pytest.fixture(scope="module")
def server(checkpoint):
    if chromium_path() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser tests need it")
    with AppServer(checkpoint) as app_server:
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
            job = client.submit(message, [], "", 64, 32, 32, 0, 0, "low_confidence", 0.05, "none", 0,
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


def message_text(message):
    from app import message_text as text
    return text(message)


def test_binds_localhost_unless_asked():
    from app import parse_args
    _, args = parse_args([])
    assert args.host == "127.0.0.1" and not args.share
    _, args = parse_args(["--host", "0.0.0.0", "--port", "8000", "--share"])
    assert (args.host, args.port, args.share) == ("0.0.0.0", 8000, True)
