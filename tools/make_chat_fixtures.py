#!/usr/bin/env python3
"""Writes the golden chat-template fixtures in tests/fixtures/chat/ from transformers itself.

For each real template in tests/fixtures/chat/templates/ (see SOURCES.md there for where each one
comes from) this renders a set of conversations with
`tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=..., tools=..., **kwargs)`
on a tiny tokenizer that carries the model's special tokens, and writes
tests/fixtures/chat/<name>.json: the tokenizer_config (special tokens + chat_template), and per
case the inputs and either the expected string or, when the template raises, the error message.
strftime_now() is pinned to FIXED_NOW so templates that print the date are reproducible; the C++
test passes the same date.

Usage: /work/venv/bin/python tools/make_chat_fixtures.py   (needs transformers>=5 and tokenizers)
"""

import datetime as _datetime
import json
import pathlib

import jinja2
import transformers
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast
from transformers.utils import chat_template_utils

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "chat"
TEMPLATES = FIXTURES / "templates"
FIXED_NOW = _datetime.datetime(2025, 3, 14, 9, 26, 53)


class _FixedDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


chat_template_utils.datetime = _FixedDatetime

# Special tokens as the models' tokenizer_config.json files store them (strings or AddedToken dicts).
DEEPSEEK_BOS = {"__type": "AddedToken", "content": "<｜begin▁of▁sentence｜>", "lstrip": False,
                "normalized": True, "rstrip": False, "single_word": False}
DEEPSEEK_EOS = {"__type": "AddedToken", "content": "<｜end▁of▁sentence｜>", "lstrip": False,
                "normalized": True, "rstrip": False, "single_word": False}

TOKENS = {
    "mixtral": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "qwen2_chatml": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    "qwen2_5": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "qwen3": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "olmoe": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|padding|>"},
    "deepseek_v2": {"bos_token": DEEPSEEK_BOS, "eos_token": DEEPSEEK_EOS, "pad_token": DEEPSEEK_EOS},
    "deepseek_v3": {"bos_token": DEEPSEEK_BOS, "eos_token": DEEPSEEK_EOS, "pad_token": DEEPSEEK_EOS},
    "deepseek_v3_1": {"bos_token": DEEPSEEK_BOS, "eos_token": DEEPSEEK_EOS, "pad_token": DEEPSEEK_EOS},
    "gpt_oss": {"bos_token": "<|startoftext|>", "eos_token": "<|return|>", "pad_token": "<|endoftext|>"},
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER = {"role": "user", "content": "What is the capital of France?"}
ASSISTANT = {"role": "assistant", "content": "The capital of France is Paris."}
USER2 = {"role": "user", "content": "And of Germany?"}
UNICODE_USER = {"role": "user", "content": "Héllo 世界 👋\n\"double\" and 'single' quotes,\n\ttab and \\ backslash"}
UNICODE_ASSISTANT = {"role": "assistant", "content": "Bonjour ! Ça va ? — «ok» 🚀\nSecond line."}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                "days": {"type": "integer", "description": "Forecast days"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["city"],
        },
    },
}


def common_cases():
    """The conversation set every template is checked on."""
    return [
        ("system_user", [SYSTEM, USER], True, {}),
        ("system_user_no_prompt", [SYSTEM, USER], False, {}),
        ("user_only", [USER], True, {}),
        ("multi_turn", [USER, ASSISTANT, USER2], True, {}),
        ("multi_turn_system", [SYSTEM, USER, ASSISTANT, USER2], True, {}),
        ("assistant_last", [USER, ASSISTANT], False, {}),
        ("unicode", [UNICODE_USER, UNICODE_ASSISTANT, USER2], True, {}),
    ]


def tool_turns(arguments, content=""):
    call = {"type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    return [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": content, "tool_calls": [call]},
        {"role": "tool", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
    ]


def specific_cases(name):
    """Template-specific knobs: thinking switches, reasoning, tools, and inputs the template rejects."""
    if name == "mixtral":
        return [
            ("error_two_users", [USER, USER2], True, {}),
            ("error_tool_role", [USER, ASSISTANT, {"role": "tool", "content": "x"}], True, {}),
        ]
    if name == "qwen2_5":
        return [
            ("tools", [USER], True, {"tools": [WEATHER_TOOL]}),
            ("tools_system", [SYSTEM, USER], True, {"tools": [WEATHER_TOOL]}),
            ("tool_call_turn", tool_turns({"city": "Paris", "unit": "celsius"}), True, {"tools": [WEATHER_TOOL]}),
        ]
    if name == "qwen3":
        reasoning_turn = [USER, {"role": "assistant", "content": "Paris.", "reasoning_content": "France -> Paris."}]
        return [
            ("enable_thinking_false", [USER], True, {"enable_thinking": False}),
            ("enable_thinking_true", [SYSTEM, USER], True, {"enable_thinking": True}),
            ("reasoning_content_last", reasoning_turn, False, {}),
            ("reasoning_content_history", reasoning_turn + [USER2], True, {}),
            ("inline_think", [USER, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nParis."}], False, {}),
            ("inline_think_history", [USER, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nParis."}, USER2],
             True, {}),
            ("tools", [SYSTEM, USER], True, {"tools": [WEATHER_TOOL]}),
            ("tool_call_turn", tool_turns({"city": "Paris"}), True, {"tools": [WEATHER_TOOL]}),
            ("tool_call_string_args", tool_turns("{\"city\": \"Paris\"}", "Let me check."), True,
             {"tools": [WEATHER_TOOL]}),
        ]
    if name == "deepseek_v3":
        return [
            ("think_stripped", [USER, {"role": "assistant", "content": "<think>hmm</think>Paris."}, USER2], True, {}),
            # content=None would be dropped by apply_chat_template and this template then fails on it.
            ("tool_call_turn", tool_turns("{\"city\": \"Paris\"}"), True, {}),
            ("tool_call_with_content", tool_turns("{\"city\": \"Paris\"}", "Checking.") +
             [{"role": "assistant", "content": "It is sunny."}], False, {}),
            ("two_systems", [SYSTEM, {"role": "system", "content": "Be brief."}, USER], True, {}),
        ]
    if name == "deepseek_v3_1":
        return [
            ("thinking", [SYSTEM, USER], True, {"thinking": True}),
            ("thinking_history", [USER, ASSISTANT, USER2], True, {"thinking": True}),
        ]
    if name == "gpt_oss":
        return [
            ("reasoning_effort_high", [SYSTEM, USER], True, {"reasoning_effort": "high"}),
            ("model_identity", [USER], True, {"model_identity": "You are Elephant."}),
            ("thinking_last", [USER, {"role": "assistant", "content": "Paris.", "thinking": "Easy."}], False, {}),
            ("reasoning_content_last", [USER, {"role": "assistant", "content": "Paris.", "reasoning_content": "Easy."}],
             False, {}),
            ("tools", [SYSTEM, USER], True, {"tools": [WEATHER_TOOL]}),
            ("builtin_tools", [USER], True, {"builtin_tools": ["browser", "python"]}),
            ("tool_call_turn", tool_turns({"city": "Paris"}), True, {"tools": [WEATHER_TOOL]}),
            ("error_channel_in_content",
             [USER, {"role": "assistant", "content": "<|channel|>analysis<|message|>x"}, USER2], True, {}),
        ]
    return []


def config_value(token):
    return token["content"] if isinstance(token, dict) else token


def render(template, tokens, messages, add_generation_prompt, extra):
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")),
        chat_template=template,
        **{key: config_value(value) for key, value in tokens.items()},
    )
    kwargs = dict(extra)
    tools = kwargs.pop("tools", None)
    return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                         add_generation_prompt=add_generation_prompt, **kwargs)


def main():
    written = []
    for path in sorted(TEMPLATES.glob("*.jinja")):
        name = path.stem
        template = path.read_text(encoding="utf-8")
        tokens = TOKENS[name]
        cases = []
        for case_name, messages, add_generation_prompt, extra in common_cases() + specific_cases(name):
            case = {"name": case_name, "messages": messages, "add_generation_prompt": add_generation_prompt,
                    "extra": extra}
            try:
                case["expected"] = render(template, tokens, messages, add_generation_prompt, extra)
            except jinja2.exceptions.TemplateError as error:
                if type(error) is not jinja2.exceptions.TemplateError:
                    raise RuntimeError(f"{name}/{case_name}: {error}") from error
                # Only raise_exception() raises the bare TemplateError; anything else is a broken case.
                case["error"] = str(error)
            cases.append(case)
        fixture = {
            "template": name,
            "generator": f"tools/make_chat_fixtures.py, transformers {transformers.__version__}, "
                         f"jinja2 {jinja2.__version__}",
            "now": FIXED_NOW.strftime("%Y-%m-%dT%H:%M:%S"),
            "tokenizer_config": {**tokens, "chat_template": template},
            "cases": cases,
        }
        out = FIXTURES / f"{name}.json"
        out.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        written.append(f"{out.relative_to(ROOT)}: {len(cases)} cases")
    print("\n".join(written))


if __name__ == "__main__":
    main()
