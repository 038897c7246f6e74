#!/usr/bin/env python3
"""`elephant serve` driven by the official `openai` Python client, end to end.

    openai_client_test.py ELEPHANT_BINARY MODEL_DIR [unittest arguments]

Starts the built binary on a free loopback port with an API key, waits for /health, and checks
through `openai.OpenAI(base_url=...)`: models.list; completions and chat completions, streamed and
not; n > 1; stop strings; usage (also against the streamed chunks and stream_options.include_usage);
logprobs / top_logprobs; errors surfacing as the client's exception classes (BadRequestError,
AuthenticationError); a raw-HTTP client that disconnects mid-stream, after which /metrics shows no
running sequence and no KV block in use; and SIGTERM ending the server with exit status 0 after its
running stream finished. Greedy (temperature 0) outputs are checked for consistency: streamed text
equals non-streamed text, and n greedy copies are identical.

Nothing hard-codes the model's output, so any served model with a chat template works; ctest runs it
on the shipped models/elephant-tiny-lm (tests/server/CMakeLists.txt). Under AddressSanitizer the
server is several times slower, so requests ask for few tokens and waits have generous deadlines;
no assertion depends on a fixed sleep.
"""

import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import openai

ELEPHANT = ""  # set from argv in main
MODEL_DIR = ""
API_KEY = "openai-client-test-key"
REQUEST_TIMEOUT_S = 300.0  # one request, AddressSanitizer build included
START_TIMEOUT_S = 120.0
POLL_TIMEOUT_S = 60.0

PROMPT = "In the beginning"
MESSAGES = [{"role": "user", "content": "Who made the heaven and the earth?"}]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what, timeout=POLL_TIMEOUT_S):
    """Polls `condition` until it returns a true value (returned), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


class Serve:
    """One `elephant serve` process on a free port; its stderr goes to a temporary file."""

    def __init__(self, *extra_args):
        self.log = tempfile.TemporaryFile()
        # The port is free when picked but could be taken before the server binds it: retry then.
        for _ in range(3):
            self.port = free_port()
            self.process = subprocess.Popen(
                [ELEPHANT, "serve", "-m", MODEL_DIR, "--port", str(self.port), "--threads", "1", *extra_args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
            if self._wait_healthy():
                return
            if "cannot listen" not in self.stderr():
                break
        log = self.stderr()
        self.kill()
        raise AssertionError(f"elephant serve did not become healthy:\n{log}")

    def _wait_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if self.get("/health")[0] == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def client(self, api_key=API_KEY):
        # No retries: a 429, 5xx or dropped connection must fail the test, not be papered over.
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key=api_key, max_retries=0,
                             timeout=REQUEST_TIMEOUT_S)

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8")
        finally:
            connection.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def metrics(self):
        status, text = self.get("/metrics", {"Authorization": f"Bearer {API_KEY}"})
        assert status == 200, (status, text)
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def stream_completion(client, **kwargs):
    """Streams a completion; returns (text per choice index, finish_reason per index, usage, chunks)."""
    texts, reasons, usage, chunks = {}, {}, None, []
    for chunk in client.completions.create(stream=True, **kwargs):
        chunks.append(chunk)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            if choice.finish_reason is not None:
                reasons[choice.index] = choice.finish_reason
    return texts, reasons, usage, chunks


def stream_chat(client, **kwargs):
    """Streams a chat completion; returns (content per choice index, finish_reason per index, usage, chunks)."""
    texts, reasons, usage, chunks = {}, {}, None, []
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        chunks.append(chunk)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason is not None:
                reasons[choice.index] = choice.finish_reason
    return texts, reasons, usage, chunks


def stop_string_in(text):
    """A short piece of `text` whose first occurrence is past its start, to use as a stop string."""
    for start in range(len(text) // 2, len(text) - 1):
        piece = text[start:start + 2]
        if piece.strip() and text.find(piece) > 0:
            return piece
    raise AssertionError(f"no usable stop string in {text!r}")


class OpenAIClientTest(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = Serve("--api-key", API_KEY)
        cls.client = cls.server.client()
        cls.model = os.path.basename(os.path.normpath(MODEL_DIR))

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.kill()

    def tearDown(self):
        # Whatever a test did, every sequence ends and returns its KV blocks.
        self.assert_engine_idle()

    def assert_engine_idle(self):
        def idle():
            m = self.server.metrics()
            return m["elephant_running_sequences"] == 0 and m["elephant_kv_cache_blocks_used"] == 0
        wait_until(idle, "no running sequence and no KV block in use")

    def greedy_completion(self, max_tokens, **kwargs):
        return self.client.completions.create(model=self.model, prompt=PROMPT, max_tokens=max_tokens, temperature=0,
                                              **kwargs)

    def greedy_chat(self, max_tokens, **kwargs):
        return self.client.chat.completions.create(model=self.model, messages=MESSAGES, max_tokens=max_tokens,
                                                   temperature=0, **kwargs)

    def assert_usage(self, usage, prompt_tokens, completion_tokens):
        self.assertEqual(usage.prompt_tokens, prompt_tokens)
        self.assertEqual(usage.completion_tokens, completion_tokens)
        self.assertEqual(usage.total_tokens, prompt_tokens + completion_tokens)

    def test_models_list(self):
        models = self.client.models.list().data
        self.assertEqual([m.id for m in models], [self.model])
        self.assertEqual(models[0].object, "model")
        self.assertGreater(models[0].max_model_len, 0)

    def test_completion_streamed_equals_non_streamed(self):
        reply = self.greedy_completion(12)
        self.assertEqual(reply.object, "text_completion")
        self.assertEqual(reply.model, self.model)
        self.assertEqual(len(reply.choices), 1)
        choice = reply.choices[0]
        self.assertIn(choice.finish_reason, ("stop", "length"))
        self.assertGreater(reply.usage.prompt_tokens, 0)
        if choice.finish_reason == "length":
            self.assertEqual(reply.usage.completion_tokens, 12)
        self.assert_usage(reply.usage, reply.usage.prompt_tokens, reply.usage.completion_tokens)

        texts, reasons, usage, chunks = stream_completion(
            self.client, model=self.model, prompt=PROMPT, max_tokens=12, temperature=0,
            stream_options={"include_usage": True})
        self.assertEqual(texts, {0: choice.text})
        self.assertEqual(reasons, {0: choice.finish_reason})
        self.assert_usage(usage, reply.usage.prompt_tokens, reply.usage.completion_tokens)
        self.assertEqual(chunks[-1].choices, [], "the usage chunk comes last and has no choices")
        self.assertTrue(all(c.usage is None for c in chunks[:-1]), "usage is null until the last chunk")
        self.assertEqual(len({c.id for c in chunks}), 1, "one id for the whole stream")

        # Token ids in: the prompt counts exactly those ids.
        ids = self.client.completions.create(model=self.model, prompt=[101, 202, 303, 404, 505], max_tokens=3,
                                             temperature=0)
        self.assertEqual(ids.usage.prompt_tokens, 5)

    def test_chat_streamed_equals_non_streamed(self):
        reply = self.greedy_chat(12)
        self.assertEqual(reply.object, "chat.completion")
        message = reply.choices[0].message
        self.assertEqual(message.role, "assistant")
        self.assertTrue(message.content)
        self.assertIn(reply.choices[0].finish_reason, ("stop", "length"))
        self.assert_usage(reply.usage, reply.usage.prompt_tokens, reply.usage.completion_tokens)

        texts, reasons, usage, chunks = stream_chat(
            self.client, model=self.model, messages=MESSAGES, max_tokens=12, temperature=0,
            stream_options={"include_usage": True})
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant", "a chat stream opens with the role")
        self.assertEqual(texts, {0: message.content})
        self.assertEqual(reasons, {0: reply.choices[0].finish_reason})
        self.assert_usage(usage, reply.usage.prompt_tokens, reply.usage.completion_tokens)
        self.assertTrue(all(c.object == "chat.completion.chunk" for c in chunks))

        # max_completion_tokens is the chat name of max_tokens.
        short = self.client.chat.completions.create(model=self.model, messages=MESSAGES, max_completion_tokens=3,
                                                    temperature=0)
        self.assertLessEqual(short.usage.completion_tokens, 3)
        self.assertTrue(message.content.startswith(short.choices[0].message.content))

    def test_n_choices(self):
        single = self.greedy_completion(8)
        many = self.greedy_completion(8, n=3)
        self.assertEqual([c.index for c in many.choices], [0, 1, 2])
        self.assertEqual({c.text for c in many.choices}, {single.choices[0].text}, "greedy copies are identical")
        self.assert_usage(many.usage, single.usage.prompt_tokens, 3 * single.usage.completion_tokens)

        texts, _, usage, _ = stream_completion(self.client, model=self.model, prompt=PROMPT, max_tokens=8,
                                               temperature=0, n=3, stream_options={"include_usage": True})
        self.assertEqual(texts, {i: single.choices[0].text for i in range(3)})
        self.assert_usage(usage, single.usage.prompt_tokens, 3 * single.usage.completion_tokens)

        chat = self.greedy_chat(8, n=2)
        self.assertEqual(len(chat.choices), 2)
        self.assertEqual(chat.choices[0].message.content, chat.choices[1].message.content)

        # Seeded sampling: choice i draws with seed + i, so a request reproduces, and choice 1 of
        # seed 7 is choice 0 of seed 8.
        sampled = dict(model=self.model, prompt=PROMPT, max_tokens=8, temperature=1.0, top_p=0.95)
        first = self.client.completions.create(n=2, seed=7, **sampled)
        again = self.client.completions.create(n=2, seed=7, **sampled)
        self.assertEqual([c.text for c in first.choices], [c.text for c in again.choices])
        shifted = self.client.completions.create(n=1, seed=8, **sampled)
        self.assertEqual(shifted.choices[0].text, first.choices[1].text)
        streamed, _, _, _ = stream_completion(self.client, n=2, seed=7, **sampled)
        self.assertEqual(streamed, {i: c.text for i, c in enumerate(first.choices)})

    def test_stop_strings(self):
        full = self.greedy_completion(16).choices[0].text
        stop = stop_string_in(full)
        expected = full[:full.find(stop)]
        reply = self.greedy_completion(16, stop=[stop, "\u2603 never generated"])
        self.assertEqual(reply.choices[0].text, expected)
        self.assertEqual(reply.choices[0].finish_reason, "stop")
        texts, reasons, _, chunks = stream_completion(self.client, model=self.model, prompt=PROMPT, max_tokens=16,
                                                      temperature=0, stop=[stop, "\u2603 never generated"])
        self.assertEqual(texts, {0: expected})
        self.assertEqual(reasons, {0: "stop"})
        self.assertFalse(any(stop in c.choices[0].text for c in chunks if c.choices), "the stop string is never sent")

        chat_full = self.greedy_chat(16).choices[0].message.content
        chat_stop = stop_string_in(chat_full)
        chat = self.greedy_chat(16, stop=chat_stop)
        self.assertEqual(chat.choices[0].message.content, chat_full[:chat_full.find(chat_stop)])
        self.assertEqual(chat.choices[0].finish_reason, "stop")
        chat_texts, _, _, _ = stream_chat(self.client, model=self.model, messages=MESSAGES, max_tokens=16,
                                          temperature=0, stop=chat_stop)
        self.assertEqual(chat_texts, {0: chat.choices[0].message.content})

    def check_chat_logprobs(self, entries, top):
        for entry in entries:
            self.assertLessEqual(entry.logprob, 0.0)
            self.assertEqual(bytes(entry.bytes), entry.token.encode("utf-8"))
            self.assertEqual(len(entry.top_logprobs), top)
            values = [t.logprob for t in entry.top_logprobs]
            self.assertEqual(values, sorted(values, reverse=True), "most likely first")
            self.assertLessEqual(sum(math.exp(v) for v in values), 1.0 + 1e-5)
            # Greedy: the chosen token is the most likely one.
            self.assertEqual(entry.token, entry.top_logprobs[0].token)
            self.assertEqual(entry.logprob, entry.top_logprobs[0].logprob)

    def test_chat_logprobs(self):
        reply = self.greedy_chat(8, logprobs=True, top_logprobs=3)
        content = reply.choices[0].logprobs.content
        self.assertEqual(len(content), reply.usage.completion_tokens)
        self.check_chat_logprobs(content, 3)
        joined = "".join(entry.token for entry in content)
        if "\ufffd" not in joined:  # tokens that are part of a character show as U+FFFD on their own
            self.assertEqual(joined, reply.choices[0].message.content)

        # Streamed: every generated token's logprobs arrive once, identical to the non-streamed ones,
        # and there are as many as the usage counts.
        _, _, usage, chunks = stream_chat(self.client, model=self.model, messages=MESSAGES, max_tokens=8,
                                          temperature=0, logprobs=True, top_logprobs=3,
                                          stream_options={"include_usage": True})
        streamed = [entry for c in chunks for choice in c.choices if choice.logprobs for entry in
                    choice.logprobs.content]
        self.assertEqual(len(streamed), usage.completion_tokens)
        self.assertEqual([(e.token, e.logprob, [(t.token, t.logprob) for t in e.top_logprobs]) for e in streamed],
                         [(e.token, e.logprob, [(t.token, t.logprob) for t in e.top_logprobs]) for e in content])

        # Logprobs are the model's distribution, before temperature: a hot sample reports the same
        # distribution for its first token.
        hot = self.client.chat.completions.create(model=self.model, messages=MESSAGES, max_tokens=1, temperature=1.8,
                                                  seed=3, logprobs=True, top_logprobs=3)
        self.assertEqual([(t.token, t.logprob) for t in hot.choices[0].logprobs.content[0].top_logprobs],
                         [(t.token, t.logprob) for t in content[0].top_logprobs])

    def test_completion_logprobs(self):
        reply = self.greedy_completion(8, logprobs=2)
        choice = reply.choices[0]
        logprobs = choice.logprobs
        n = reply.usage.completion_tokens
        self.assertEqual(len(logprobs.tokens), n)
        self.assertEqual(len(logprobs.token_logprobs), n)
        self.assertEqual(len(logprobs.top_logprobs), n)
        offset = 0
        for token, logprob, top, text_offset in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs,
                                                    logprobs.text_offset):
            self.assertEqual(text_offset, offset)
            offset += len(token.encode("utf-8"))
            self.assertTrue(1 <= len(top) <= 2)
            self.assertEqual(logprob, max(top.values()), "greedy picks the most likely token")
            self.assertLessEqual(logprob, 0.0)
        texts, _, _, chunks = stream_completion(self.client, model=self.model, prompt=PROMPT, max_tokens=8,
                                                temperature=0, logprobs=2)
        self.assertEqual(texts, {0: choice.text})
        streamed = [t for c in chunks for ch in c.choices if ch.logprobs for t in ch.logprobs.token_logprobs]
        self.assertEqual(streamed, logprobs.token_logprobs)

    def assert_bad_request(self, call, param=None, code=None):
        with self.assertRaises(openai.BadRequestError) as caught:
            call()
        error = caught.exception
        self.assertEqual(error.status_code, 400)
        self.assertEqual(error.type, "invalid_request_error")
        self.assertTrue(error.message)
        if param is not None:
            self.assertEqual(error.param, param, error.message)
        if code is not None:
            self.assertEqual(error.code, code, error.message)

    def test_bad_requests(self):
        complete = self.client.completions.create
        chat = self.client.chat.completions.create
        m = self.model
        # Wrong types.
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, max_tokens="ten"), "max_tokens")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, temperature="hot"), "temperature")
        self.assert_bad_request(lambda: complete(model=m, prompt={"text": PROMPT}), "prompt")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, stream="yes"), "stream")
        self.assert_bad_request(lambda: chat(model=m, messages=[{"role": "user", "content": 42}]),
                                "messages[0].content")
        self.assert_bad_request(lambda: chat(model=m, messages=[{"role": "wizard", "content": "hi"}]),
                                "messages[0].role")
        self.assert_bad_request(lambda: chat(model=m, messages=[]), "messages")
        # Unknown model.
        self.assert_bad_request(lambda: complete(model="no-such-model", prompt=PROMPT), "model", "model_not_found")
        self.assert_bad_request(lambda: chat(model="gpt-4o", messages=MESSAGES), "model", "model_not_found")
        # Prompts longer than the context, as text and as token ids.
        context = self.client.models.list().data[0].max_model_len
        self.assert_bad_request(lambda: complete(model=m, prompt="In the beginning " * context),
                                "prompt", "context_length_exceeded")
        self.assert_bad_request(lambda: complete(model=m, prompt=[101] * (context + 1)), "prompt",
                                "context_length_exceeded")
        self.assert_bad_request(lambda: chat(model=m, messages=[{"role": "user", "content": "Amen. " * context}]),
                                "messages", "context_length_exceeded")
        # Absurd values.
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, max_tokens=10**12), "max_tokens")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, max_tokens=0), "max_tokens")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, temperature=1e9), "temperature")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, top_p=0), "top_p")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, n=10**6), "n")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, logprobs=10**6), "logprobs")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, seed=2**70), "seed")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, stop=["a", "b", "c", "d", "e"]), "stop")
        self.assert_bad_request(lambda: complete(model=m, prompt=[10**9]), "prompt")
        self.assert_bad_request(lambda: chat(model=m, messages=MESSAGES, top_logprobs=10**6, logprobs=True),
                                "top_logprobs")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, stream_options={"include_usage": True}),
                                "stream_options")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, presence_penalty=1.5), "presence_penalty",
                                "unsupported_parameter")
        self.assert_bad_request(lambda: complete(model=m, prompt=PROMPT, echo=True), "echo", "unsupported_parameter")
        # Not JSON at all (the client always sends JSON: raw HTTP).
        status, body = self.server.request("POST", "/v1/completions", body="{not json",
                                           headers={"Authorization": f"Bearer {API_KEY}",
                                                    "Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["error"]["type"], "invalid_request_error")
        # The server is unharmed.
        self.assertTrue(self.greedy_completion(2).choices[0].text is not None)

    def test_authentication(self):
        intruder = self.server.client(api_key="wrong-key")
        with self.assertRaises(openai.AuthenticationError) as caught:
            intruder.models.list()
        self.assertEqual(caught.exception.status_code, 401)
        self.assertEqual(caught.exception.code, "invalid_api_key")
        with self.assertRaises(openai.AuthenticationError):
            intruder.completions.create(model=self.model, prompt=PROMPT, max_tokens=2)
        with self.assertRaises(openai.AuthenticationError):
            intruder.chat.completions.create(model=self.model, messages=MESSAGES, max_tokens=2, stream=True)
        self.assertEqual(self.server.get("/metrics")[0], 401)
        self.assertEqual(self.server.get("/health")[0], 200, "/health needs no key")

    def test_disconnect_mid_stream_frees_the_sequence(self):
        # A long greedy generation that does not end early on its own...
        probe = self.greedy_completion(32)
        self.assertEqual(probe.choices[0].finish_reason, "length")
        before = self.server.metrics()
        body = json.dumps({"model": self.model, "prompt": PROMPT, "max_tokens": 900, "temperature": 0,
                           "stream": True}).encode()
        request = (f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{self.server.port}\r\n"
                   f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        # ...whose client reads the first event and hangs up.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=REQUEST_TIMEOUT_S) as connection:
            connection.sendall(request)
            received = b""
            while b"data: " not in received:
                data = connection.recv(4096)
                self.assertTrue(data, f"the server closed the stream early: {received!r}")
                received += data
            self.assertTrue(received.startswith(b"HTTP/1.1 200"), received)

        def cancelled():
            m = self.server.metrics()
            return (m["elephant_running_sequences"] == 0 and m["elephant_kv_cache_blocks_used"] == 0 and
                    m["elephant_client_disconnects_total"] > before["elephant_client_disconnects_total"]) and m
        after = wait_until(cancelled, "the disconnected stream's sequence to be cancelled and its KV blocks freed")
        key = 'elephant_sequences_finished_total{reason="cancelled"}'
        self.assertEqual(after[key] - before.get(key, 0), 1, "a counter appears with its first increment")
        self.assertLess(after["elephant_generation_tokens_total"] - before["elephant_generation_tokens_total"], 900)
        self.assertEqual(after["elephant_queue_length"], 0)
        # The server carries on.
        self.assertEqual(self.greedy_completion(32).choices[0].text, probe.choices[0].text)


class SigtermTest(unittest.TestCase):
    def test_sigterm_lets_the_running_stream_finish_and_exits_zero(self):
        server = Serve("--api-key", API_KEY, "--grace-seconds", "120")
        try:
            client = server.client()
            model = os.path.basename(os.path.normpath(MODEL_DIR))
            # 600 greedy tokens that do not end early: hundreds of milliseconds even in Release,
            # against the few the signal and a /health round trip take, so the stream is still
            # running while the server drains.
            request = dict(model=model, prompt=PROMPT, max_tokens=600, temperature=0)
            expected = client.completions.create(**request).choices[0]
            self.assertEqual(expected.finish_reason, "length")
            chunks = iter(client.completions.create(stream=True, **request))
            text = next(chunks).choices[0].text
            server.process.send_signal(signal.SIGTERM)

            def draining():
                try:
                    return server.get("/health")[0] == 503
                except OSError as error:
                    raise AssertionError(f"the server stopped listening while a stream was running: {error}")
            wait_until(draining, "/health to answer 503 after SIGTERM")
            with self.assertRaises(openai.InternalServerError) as caught:
                client.completions.create(model=model, prompt=PROMPT, max_tokens=2)
            self.assertEqual(caught.exception.status_code, 503)
            # The stream admitted before the signal runs to its end (no error event) within the grace.
            reason = None
            for chunk in chunks:
                for choice in chunk.choices:
                    text += choice.text
                    reason = choice.finish_reason or reason
            self.assertEqual(text, expected.text)
            self.assertEqual(reason, "length")
            # An idle keep-alive connection would hold the exit back for httplib's keep-alive timeout.
            client.close()
            self.assertEqual(server.process.wait(timeout=START_TIMEOUT_S), 0, server.stderr())
            log = server.stderr()
            self.assertIn("Terminated: stopping", log)
            self.assertIn("GET /health 503", log)
            self.assertIn("elephant serve: stopped", log)
        finally:
            server.kill()


def main():
    global ELEPHANT, MODEL_DIR
    if len(sys.argv) < 3:
        sys.exit(f"usage: {sys.argv[0]} ELEPHANT_BINARY MODEL_DIR [unittest arguments]")
    ELEPHANT, MODEL_DIR = sys.argv[1], sys.argv[2]
    print(f"openai {openai.__version__}, {ELEPHANT}, model {MODEL_DIR}", flush=True)
    unittest.main(argv=[sys.argv[0], *sys.argv[3:]], verbosity=2)


if __name__ == "__main__":
    main()
