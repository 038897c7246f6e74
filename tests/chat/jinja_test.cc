// Unit tests of the Jinja subset: whitespace rules, expressions, filters, tests, loops, macros,
// and the errors (with template line numbers) for malformed or unsupported templates.
//
// The rendering table's expected strings were produced by transformers' own Jinja environment
// (trim_blocks, lstrip_blocks, its tojson and strftime_now with the date pinned to 2025-03-14), so
// each row is a Python fact, not this implementation's opinion.
#include "chat/chat_template.h"
#include "chat/jinja_parser.h"
#include "core/error.h"

#include <gtest/gtest.h>

#include <string>

namespace elephant::chat {
namespace {

RenderOptions pinned_now() {
  RenderOptions options;
  std::tm now{};
  now.tm_year = 2025 - 1900;
  now.tm_mon = 2;
  now.tm_mday = 14;
  now.tm_hour = 9;
  now.tm_min = 26;
  now.tm_sec = 53;
  options.now = now;
  return options;
}

std::string render(std::string_view source, const Json& context = Json::object()) {
  return ChatTemplate::parse(source).render(context, pinned_now());
}

// The message of the Error that parsing or rendering `source` throws ("" if none).
std::string error_of(std::string_view source, const Json& context = Json::object()) {
  try {
    render(source, context);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct RenderCase {
  const char* source;
  const char* context;
  const char* expected;
};

constexpr RenderCase kRenderCases[] = {
    {"a\n  {% if true %}\n  x\n  {% endif %}\nb\n",
     "{}",
     "a\n  x\nb"},
    {"a  {% if true %}x{% endif %}",
     "{}",
     "a  x"},
    {"  {# c #}\nx {{- ' y' -}}  \n z",
     "{}",
     "x yz"},
    {"{% if true -%}  \n  x{%- endif %}",
     "{}",
     "x"},
    {"{%+ if true %}x{% endif %}",
     "{}",
     "x"},
    {"x\r\ny\r\n",
     "{}",
     "x\ny"},
    {"{{ 'a\\x41\\u00e9\\n\\d' }}",
     "{}",
     "aAé\n\\d"},
    {"{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 10 / 4 }} {{ 2 ** 10 }} {{ 1.5 + 1 }}",
     "{}",
     "7 9 3 -4 2 2.5 1024 2.5"},
    {"{{ 'a' ~ 1 ~ none ~ true }}|{{ 'ab' * 3 }}|{{ [1] + [2] }}",
     "{}",
     "a1NoneTrue|ababab|[1, 2]"},
    {"{{ 3 > 2 > 1 }} {{ 1 < 2 < 1 }} {{ 'b' in 'abc' }} {{ 2 not in [1, 3] }} {{ 'k' in {'k': 1} }} {{ 1 == 1.0 }} {{ true == 1 }}",
     "{}",
     "True False True True True True True"},
    {"{{ 'yes' if x else 'no' }} {{ 'yes' if not x else 'no' }}|{{ 'a' if false }}|",
     "{\"x\": 0}",
     "no yes||"},
    {"{{ x or 'fallback' }} {{ x and 'never' }} {{ 'a' and 'b' }}",
     "{\"x\": \"\"}",
     "fallback  b"},
    {"{{ [1, 'a', none, true, 1.0, {'k': [2]}] }} {{ \"it's\" }} {{ ['it\\'s'] }}",
     "{}",
     "[1, 'a', None, True, 1.0, {'k': [2]}] it's [\"it's\"]"},
    {"{{ s[::-1] }} {{ s[1:3] }} {{ s[-2:] }} {{ l[1:] }} {{ l[::2] }} {{ l[-1] }} {{ l[5] }}|{{ s[0] }}",
     "{\"s\": \"héllo\", \"l\": [1, 2, 3, 4]}",
     "olléh él lo [2, 3, 4] [1, 3] 4 |h"},
    {"{{ d.a }} {{ d['b'] }} {{ d.missing }}|{{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }}",
     "{\"d\": {\"a\": 1, \"b\": 2}}",
     "1 2 |1 dflt None"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}{{ d.keys() | list }}{{ d.values() | list }}",
     "{\"d\": {\"z\": 1, \"a\": 2}}",
     "z=1;a=2;za['z', 'a'][1, 2]"},
    {"{{ s.startswith('He') }} {{ s.endswith(('x', 'lo')) }} {{ '  pad '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  l'.lstrip() }}|{{ 'r  '.rstrip() }}|",
     "{\"s\": \"Hello\"}",
     "True True pad|hi|l|r|"},
    {"{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ ' a  b '.split(none, 1) }} {{ ' a  b '.rsplit(none, 1) }}",
     "{}",
     "['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['a,b', 'c'] ['a', 'b '] [' a', 'b']"},
    {"{{ 'MiXed'.lower() }} {{ 'MiXed'.upper() }} {{ 'hello world-foo bar'.title() }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'abc'.find('c') }}",
     "{}",
     "mixed MIXED Hello World-Foo Bar bba 2"},
    {"{{ '  x  '|trim }}|{{ 'abc'|length }}|{{ [1,2]|length }}|{{ 1|string }}{{ 'X'|lower }}{{ 'x'|upper }}|{{ 'aXa'|replace('a', 'b') }}|{{ [1, 2, 3]|join(', ') }}|{{ [3, 1]|first }}{{ [3, 1]|last }}",
     "{}",
     "x|3|2|1xX|bXb|1, 2, 3|31"},
    {"{{ x|default('d') }}|{{ ''|default('e', true) }}|{{ ''|default('e') }}|{{ 'hELLO wORLD'|capitalize }}|{{ 'hello world-foo (bar)'|title }}",
     "{}",
     "d|e||Hello world|Hello World-Foo (Bar)"},
    {"{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ 'é\"\\n'|tojson }}|{{ [1.5, none, true]|tojson }}|{{ {}|tojson(indent=2) }}",
     "{\"d\": {\"b\": 1, \"a\": [1, {\"c\": \"x\"}]}}",
     "{\"b\": 1, \"a\": [1, {\"c\": \"x\"}]}|{\n  \"b\": 1,\n  \"a\": [\n    1,\n    {\n      \"c\": \"x\"\n    }\n  ]\n}|\"é\\\"\\n\"|[1.5, null, true]|{}"},
    {"{{ users|selectattr('admin')|map(attribute='name')|join(',') }}|{{ users|rejectattr('admin')|map(attribute='name')|list }}|{{ users|selectattr('name', 'equalto', 'bo')|list|length }}|{{ [1, 2, 3, 4]|select('even')|list }}",
     "{\"users\": [{\"name\": \"al\", \"admin\": true}, {\"name\": \"bo\", \"admin\": false}]}",
     "al|['bo']|1|[2, 4]"},
    {"{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}|{{ [3, 1, 2]|sort }}|{{ [1, 2]|reverse|list }}|{{ [1, 1, 2]|unique|list }}|{{ ['a', 'b']|map('upper')|join }}|{{ '42'|int + 1 }}|{{ [1, 2, 3]|sum }}|{{ [4, 9]|max }}",
     "{\"d\": {\"a\": 1}}",
     "a1|[1, 2, 3]|[2, 1]|[1, 2]|AB|43|6|9"},
    {"{{ x is defined }} {{ y is defined }} {{ none is none }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is sequence }} {{ 'a' is iterable }} {{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ 1.0 is float }}",
     "{\"x\": 1}",
     "True False True True True True True True True True True"},
    {"{{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ x is not none }} {{ 'a' is in ['a'] }} {{ 1 is eq 1 }}",
     "{\"x\": null}",
     "True False True False True True True False True True"},
    {"{% for x in l %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{% if not loop.first %}{{ loop.previtem }}{% endif %};{% endfor %}",
     "{\"l\": [\"a\", \"b\"]}",
     "01TrueFalse22;12FalseTrue21a;"},
    {"{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }}{% endfor %}|{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
     "{}",
     "empty|2/24/2|013"},
    {"{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{% endfor %}|{{ x }}|{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
     "{}",
     "111|1|3"},
    {"{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for c in 'hé' %}[{{ c }}]{% endfor %}{% for x in l %}{% for y in l %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}",
     "{\"l\": [1, 2]}",
     "37[h][é]121122"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t %}block {{ a }}{% endset %}[{{ t }}]",
     "{}",
     "12[block 1]"},
    {"{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Al') }} {{ greet('Bo', '?') }} {{ greet(punct='.', name='Cy') }}",
     "{}",
     "Hi Al! Hi Bo? Hi Cy."},
    {"{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}",
     "{}",
     "120"},
    {"{% macro m() %}{{ top }}{% endmacro %}{% set top = 'late' %}{{ m() }}",
     "{}",
     "late"},
    {"{{ strftime_now('%Y-%m-%d %b') }}",
     "{}",
     "2025-03-14 Mar"},
    {"{{ dict(a=1, b=2) }} {{ namespace(a=1) }} {{ range(2, 8, 3)|list }}",
     "{}",
     "{'a': 1, 'b': 2} <Namespace {'a': 1}> [2, 5]"},
    {"{% generation %}gen{% endgeneration %}",
     "{}",
     "gen"},
    {"{{ 1e3 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 3.0 }} {{ 1e-05 }} {{ 12345678901234567890.0 }}",
     "{}",
     "1000.0 0.30000000000000004 1e+20 3.0 1e-05 1.2345678901234567e+19"},
};

TEST(JinjaRender, MatchesPythonJinja) {
  for (const RenderCase& c : kRenderCases) {
    SCOPED_TRACE(c.source);
    EXPECT_EQ(render(c.source, Json::parse(c.context)), c.expected);
  }
}

TEST(JinjaRender, UndefinedPrintsEmptyAndIteratesEmpty) {
  EXPECT_EQ(render("[{{ missing }}][{% for x in missing %}x{% endfor %}][{{ missing|length }}]"), "[][][0]");
}

TEST(JinjaRender, NamespaceCarriesStateOutOfLoopsAndPlainSetDoesNot) {
  EXPECT_EQ(render("{% set ns = namespace(found=false) %}{% set plain = false %}"
                   "{% for m in messages %}{% if m == 'b' %}{% set ns.found = true %}{% set plain = true %}"
                   "{% endif %}{% endfor %}{{ ns.found }} {{ plain }}",
                   Json{{"messages", {"a", "b"}}}),
            "True False");
}

TEST(JinjaRender, KeepsCallerKeyOrderInTojsonAndIteration) {
  const Json context = Json::parse(R"({"d": {"zeta": 1, "alpha": {"y": 2, "b": 3}}})");
  EXPECT_EQ(render("{{ d|tojson }} {% for k in d %}{{ k }} {% endfor %}", context),
            "{\"zeta\": 1, \"alpha\": {\"y\": 2, \"b\": 3}} zeta alpha ");
  EXPECT_EQ(render("{{ d|tojson(sort_keys=true) }}", context), "{\"alpha\": {\"b\": 3, \"y\": 2}, \"zeta\": 1}");
}

TEST(JinjaErrors, RaiseExceptionGivesTheTemplateMessageVerbatim) {
  EXPECT_EQ(error_of("line one\n{{ raise_exception('Roles must alternate: ' ~ 'user/assistant') }}"),
            "Roles must alternate: user/assistant");
}

TEST(JinjaErrors, UnsupportedFilterNamesFilterAndLine) {
  EXPECT_EQ(error_of("a\nb\n{{ text | wordwrap(10) }}"), "chat template line 3: filter 'wordwrap' is not supported");
  EXPECT_EQ(error_of("{% if x is sameas_nothing %}{% endif %}"),
            "chat template line 1: test 'sameas_nothing' is not supported");
}

TEST(JinjaErrors, UnsupportedAndUnknownTags) {
  EXPECT_EQ(error_of("\n{% include 'other.jinja' %}"), "chat template line 2: tag 'include' is not supported");
  EXPECT_EQ(error_of("{% frobnicate %}"), "chat template line 1: unknown tag 'frobnicate'");
  EXPECT_EQ(error_of("{% for x in y recursive %}{% endfor %}"),
            "chat template line 1: recursive for loops are not supported");
  EXPECT_EQ(error_of("{% endif %}"), "chat template line 1: unexpected '{% endif %}' with no block to close");
  EXPECT_EQ(error_of("{% break %}"), "chat template line 1: 'break' outside of a for loop");
}

TEST(JinjaErrors, UnterminatedConstructsPointAtTheirStart) {
  EXPECT_EQ(error_of("ok\n{{ messages[0]"), "chat template line 2: '{{' tag is never closed ('}}' missing)");
  EXPECT_EQ(error_of("{% if true %}\nx\n"), "chat template line 1: 'if' block opened here is never closed ({% endif %} missing)");
  EXPECT_EQ(error_of("a\n\n{% for m in messages %}{{ m }}"),
            "chat template line 3: 'for' block opened here is never closed ({% endfor %} missing)");
  EXPECT_EQ(error_of("{# comment"), "chat template line 1: comment is never closed ('#}' missing)");
  EXPECT_EQ(error_of("x\n{{ 'abc }}"), "chat template line 2: string literal is never closed");
  EXPECT_EQ(error_of("{% macro m() %}body"),
            "chat template line 1: 'macro' block opened here is never closed ({% endmacro %} missing)");
}

TEST(JinjaErrors, SyntaxErrorsNameWhatWasFound) {
  EXPECT_EQ(error_of("{{ 1 + }}"), "chat template line 1: expected an expression, found '}}'");
  EXPECT_EQ(error_of("\n{{ a b }}"), "chat template line 2: expected '}}', found 'b'");
  EXPECT_EQ(error_of("{{ a ) }}"), "chat template line 1: unexpected ')'");
  EXPECT_EQ(error_of("{{ a $ b }}"), "chat template line 1: unexpected character '$'");
  EXPECT_EQ(error_of("{% set %}"), "chat template line 1: expected a name, found '%}'");
  EXPECT_EQ(error_of("{% for x of y %}{% endfor %}"), "chat template line 1: expected 'in', found 'of'");
}

TEST(JinjaErrors, RuntimeErrorsCarryTheLineOfTheExpression) {
  EXPECT_EQ(error_of("line1\nline2\n{{ 'a' + 1 }}"), "chat template line 3: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(error_of("\n{{ missing.attr }}"), "chat template line 2: 'missing' is undefined");
  EXPECT_EQ(error_of("{{ m.content.strip() }}", Json{{"m", Json::object()}}),
            "chat template line 1: 'dict object' has no attribute 'content'");
  EXPECT_EQ(error_of("{{ 1 // 0 }}"), "chat template line 1: integer division or modulo by zero");
  EXPECT_EQ(error_of("{{ x|tojson }}"), "chat template line 1: Object of type Undefined is not JSON serializable");
  EXPECT_EQ(error_of("{% set x = 1 %}{% set x.a = 2 %}"),
            "chat template line 1: cannot assign attribute 'a' on 'x' (only namespace() objects can be modified)");
  EXPECT_EQ(error_of("{{ 'abc'.append('d') }}"), "chat template line 1: 'str object' has no attribute 'append'");
  EXPECT_EQ(error_of("{{ [1, 2].append(3) }}"), "chat template line 1: 'list object' has no attribute 'append'");
  EXPECT_EQ(error_of("{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
            "chat template line 1: cannot unpack 3 value(s) into 2 names");
}

TEST(JinjaLimits, DeepNestingIsAnErrorNotACrash) {
  const std::string deep_parens = "{{ " + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}";
  EXPECT_EQ(error_of(deep_parens), "chat template line 1: nesting deeper than 128 levels");
  std::string deep_ifs;
  for (int i = 0; i < 1000; ++i) deep_ifs += "{% if true %}";
  EXPECT_EQ(error_of(deep_ifs), "chat template line 1: nesting deeper than 128 levels");
  EXPECT_EQ(error_of("{{ " + std::string(5000, '-') + "1 }}"), "chat template line 1: nesting deeper than 128 levels");
}

TEST(JinjaLimits, RunawayRecursionAndOutputAreBounded) {
  EXPECT_EQ(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
            "chat template line 1: macro 'f' nested deeper than 64 calls");
  EXPECT_EQ(error_of("{{ range(100000000) }}"), "chat template line 1: range() longer than 1048576 items is not supported");
  EXPECT_EQ(error_of("{{ 'x' * 1000000000 }}"), "chat template line 1: string repetition result is too large");
  EXPECT_EQ(error_of("{% for i in range(1000) %}{% for j in range(1000) %}{{ 'x' * 100 }}{% endfor %}{% endfor %}"),
            "chat template line 1: rendered output exceeds 67108864 bytes");
}

// Under LeakSanitizer this fails if the cycle through the namespace is not broken after rendering.
TEST(JinjaLimits, SelfReferencingNamespaceDoesNotLeak) {
  EXPECT_EQ(render("{% set ns = namespace(n=1) %}{% set ns.self = ns %}{% set ns.f = ns.self.n %}{{ ns.f }}"), "1");
}

TEST(JinjaParse, TemplatesAreReusableAcrossRenders) {
  const ChatTemplate t = ChatTemplate::parse("{% for m in messages %}{{ m }}{% endfor %}");
  EXPECT_EQ(t.render(Json{{"messages", {"a"}}}), "a");
  EXPECT_EQ(t.render(Json{{"messages", {"b", "c"}}}), "bc");
}

TEST(ChatContext, SpecialTokensAcceptStringsAndAddedTokenObjects) {
  const Json config = Json::parse(R"({"bos_token": {"content": "<B>", "lstrip": false}, "eos_token": "<E>",
                                      "unk_token": null, "chat_template": "{{ bos_token }}|{{ eos_token }}|{{ unk_token is defined }}"})");
  EXPECT_EQ(apply_chat_template(config, Json::array({Json{{"role", "user"}, {"content", "x"}}}), false),
            "<B>|<E>|False");
}

TEST(ChatContext, DropsNullFieldsAndAliasesReasoning) {
  const Json messages = Json::parse(R"([{"role": "assistant", "content": null, "reasoning": "r"}])");
  const Json context = chat_template_context(Json::object(), messages, true, Json{{"enable_thinking", false}});
  EXPECT_EQ(context["messages"][0].dump(), R"({"thinking":"r","role":"assistant","reasoning":"r","reasoning_content":"r"})");
  EXPECT_TRUE(context["tools"].is_null());
  EXPECT_TRUE(context["documents"].is_null());
  EXPECT_EQ(context["add_generation_prompt"], true);
  EXPECT_EQ(context["enable_thinking"], false);
}

TEST(ChatContext, SelectsNamedTemplatesLikeTransformers) {
  const Json config = Json::parse(R"({"chat_template": [{"name": "default", "template": "D"},
                                                         {"name": "tool_use", "template": "T"}]})");
  EXPECT_EQ(select_chat_template(config, false), "D");
  EXPECT_EQ(select_chat_template(config, true), "T");
  const Json messages = Json::array({Json{{"role", "user"}, {"content", "x"}}});
  EXPECT_EQ(apply_chat_template(config, messages, false, Json{{"tools", Json::array({"t"})}}), "T");
}

TEST(ChatContext, RejectsMissingTemplateAndEmptyConversation) {
  const Json messages = Json::array({Json{{"role", "user"}, {"content", "x"}}});
  EXPECT_THROW(apply_chat_template(Json::object(), messages, false), Error);
  EXPECT_EQ([] {
    try {
      apply_chat_template(Json{{"chat_template", "x"}}, Json::array(), false);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  }(), "cannot apply a chat template to an empty conversation");
}

}  // namespace
}  // namespace elephant::chat
