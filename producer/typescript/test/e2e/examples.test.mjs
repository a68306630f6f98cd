// The examples' tools answer canned tool calls as each API sends them: a
// model's call becomes a job, and its text and images come back in the
// shape that API takes. No API key: the AI SDK runs a mock model.
import assert from "node:assert/strict";
import { test } from "node:test";

import { generateText, stepCountIs } from "ai";
import { MockLanguageModelV3 } from "ai/test";

import { runCodeTool } from "../../examples/ai_sdk.mjs";
import {
    ANTHROPIC_TOOL,
    OPENAI_TOOL,
    handleAnthropic,
    handleOpenAI,
} from "../../examples/code_tool.mjs";
import { client, skip } from "./env.mjs";

const PNG_BASE64_SIGNATURE = "iVBORw0KGgo"; // \x89PNG\r\n\x1a\n
const PLOT =
    "import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 2), dpi=50)\nplt.plot([1, 3, 2])\nprint('drawn')";

test(
    "OpenAI: a tool message with the text, a user message with the figure",
    { skip },
    async (t) => {
        const brig = client(t);
        assert.equal(OPENAI_TOOL.function.name, "run_code");
        const call = {
            id: "call_1",
            type: "function",
            function: {
                name: "run_code",
                arguments: JSON.stringify({
                    language: "python",
                    code: PLOT,
                    session: `oa-${Date.now()}`,
                }),
            },
        };
        const [tool, images] = await handleOpenAI(brig, call);
        assert.equal(tool.role, "tool");
        assert.equal(tool.tool_call_id, "call_1");
        assert.match(tool.content, /^status: ok/);
        assert.match(tool.content, /drawn/);
        assert.equal(images.role, "user");
        const url = images.content[1].image_url.url;
        assert.ok(
            url.startsWith(`data:image/png;base64,${PNG_BASE64_SIGNATURE}`),
            url.slice(0, 40),
        );
    },
);

test("Anthropic: a tool_result with the output and the failure", { skip }, async (t) => {
    const brig = client(t);
    assert.equal(ANTHROPIC_TOOL.input_schema.required.join(), "language,code");
    const block = {
        type: "tool_use",
        id: "toolu_1",
        name: "run_code",
        input: { language: "bash", code: "echo to stdout; echo to stderr >&2; exit 4" },
    };
    const result = await handleAnthropic(brig, block);
    assert.equal(result.type, "tool_result");
    assert.equal(result.tool_use_id, "toolu_1");
    assert.deepEqual(result.content, [
        {
            type: "text",
            text: "status: failed (exit 4)\nstdout:\nto stdout\n\nstderr:\nto stderr\n",
        },
    ]);
});

test("AI SDK: generateText calls the tool and the model reads its output", { skip }, async (t) => {
    const brig = client(t);
    const usage = {
        inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
        outputTokens: { total: 1, text: 1, reasoning: 0 },
    };
    const session = `ai-${Date.now()}`;
    const replies = [
        {
            content: [
                {
                    type: "tool-call",
                    toolCallId: "c1",
                    toolName: "run_code",
                    input: JSON.stringify({ language: "python", code: PLOT, session }),
                },
            ],
            finishReason: { unified: "tool-calls", raw: "tool_use" },
            usage,
            warnings: [],
        },
        {
            content: [{ type: "text", text: "a line" }],
            finishReason: { unified: "stop", raw: "stop" },
            usage,
            warnings: [],
        },
    ];
    const model = new MockLanguageModelV3({ doGenerate: async () => replies.shift() });
    const out = await generateText({
        model,
        tools: { run_code: runCodeTool(brig) },
        stopWhen: stepCountIs(3),
        prompt: "draw a line",
    });
    assert.equal(out.text, "a line");
    // The second call's prompt carries the tool's result as the model sees it.
    const prompt = model.doGenerateCalls[1].prompt;
    const toolMessage = prompt.find((m) => m.role === "tool");
    const output = toolMessage.content[0].output;
    assert.equal(output.type, "content", JSON.stringify(output).slice(0, 300));
    assert.match(output.value[0].text, /^status: ok\nstdout:\ndrawn/);
    assert.equal(output.value[1].mediaType, "image/png");
    assert.ok(output.value[1].data.startsWith(PNG_BASE64_SIGNATURE));
});

test("AI SDK: the schema refuses a language the tool does not offer", () => {
    const schema = runCodeTool(undefined).inputSchema;
    assert.equal(schema.safeParse({ language: "cobol", code: "x" }).success, false);
    assert.equal(schema.safeParse({ language: "python", code: "1" }).success, true);
});
