#!/usr/bin/env python3
"""The stock OpenAI Python client against `openledger serve`.

  openai_client.py BASE_URL        (e.g. http://127.0.0.1:8080/v1)

Lists models, chats without and with streaming (the streamed text must equal the whole answer at temperature
0), completes a raw prompt, and checks that invalid requests come back as 400 errors. Prints a JSON summary as
its last line; exits 1 on any failure.
"""
import json
import sys

import openai


def main():
    base_url = sys.argv[1]
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
    failures = []

    models = [m.id for m in client.models.list().data]
    if not models:
        failures.append("no models listed")
    model = models[0] if models else "default"

    messages = [{"role": "user", "content": "Write a haiku about the sea."}]
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=40, temperature=0, seed=1)
    answer = whole.choices[0].message.content
    if not answer or whole.choices[0].message.role != "assistant":
        failures.append("empty chat answer")
    if whole.usage.completion_tokens < 1 or whole.usage.total_tokens != whole.usage.prompt_tokens + whole.usage.completion_tokens:
        failures.append(f"bad usage {whole.usage}")

    streamed = ""
    finish = None
    chunks = 0
    for chunk in client.chat.completions.create(model=model, messages=messages, max_tokens=40, temperature=0,
                                                seed=1, stream=True):
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            streamed += chunk.choices[0].delta.content
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    if streamed != answer:
        failures.append(f"streamed text {streamed!r} differs from {answer!r}")
    if finish not in ("stop", "length") or chunks < 3:
        failures.append(f"stream ended with {finish!r} after {chunks} chunks")

    completion = client.completions.create(model=model, prompt="Once upon a time", max_tokens=8, temperature=0)
    if completion.choices[0].finish_reason != "length" or completion.usage.completion_tokens != 8:
        failures.append(f"completion {completion}")

    stopped = client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=20, temperature=0, stop=[" 6"])
    if " 6" in stopped.choices[0].text:
        failures.append(f"stop sequence not honoured: {stopped.choices[0].text!r}")

    for bad in ({"max_tokens": 10**9}, {"temperature": 7}, {"messages": []}):
        try:
            arguments = {"model": model, "messages": messages, "max_tokens": 8}
            arguments.update(bad)
            client.chat.completions.create(**arguments)
            failures.append(f"{bad} was accepted")
        except openai.BadRequestError as error:
            if error.status_code != 400:
                failures.append(f"{bad}: status {error.status_code}")

    summary = {"ok": not failures, "models": models, "answer": answer, "stream_chunks": chunks, "failures": failures}
    print(json.dumps(summary))
    sys.exit(0 if not failures else 1)


if __name__ == "__main__":
    main()
