// An "execute code" tool for tool-calling models, on one long-lived Brig: the
// raw tool definitions OpenAI's and Anthropic's APIs take, and handlers that
// turn a model's tool call into a job and its result into what the model
// reads back: text (output, exit status, the exception) and the images a
// cell displayed.
//
//     import { Brig } from "brig-client";
//     const brig = new Brig();
//     // OpenAI: tools: [OPENAI_TOOL]; for each message.tool_calls entry:
//     messages.push(...(await handleOpenAI(brig, call)));
//     // Anthropic: tools: [ANTHROPIC_TOOL]; for each tool_use content block:
//     userContent.push(await handleAnthropic(brig, block));
const DESCRIPTION =
    "Run code in a sandbox and return its output. Jobs of the same session share files " +
    "and, for Python, variables; a figure left open or a final expression comes back as display data.";

const PARAMETERS = {
    type: "object",
    properties: {
        language: {
            type: "string",
            enum: ["python", "javascript", "typescript", "bash", "r"],
            description: "the language of the code",
        },
        code: { type: "string", description: "the program to run" },
        session: {
            type: "string",
            description: "a name to keep files and variables across calls",
        },
    },
    required: ["language", "code"],
    additionalProperties: false,
};

export const OPENAI_TOOL = {
    type: "function",
    function: { name: "run_code", description: DESCRIPTION, parameters: PARAMETERS },
};

export const ANTHROPIC_TOOL = {
    name: "run_code",
    description: DESCRIPTION,
    input_schema: PARAMETERS,
};

const MAX_TEXT = 20000;
const cut = (s) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}\n[... cut]` : s);

/** Runs one tool call's arguments; what the model should read: text and images. */
export async function runCode(brig, { language, code, session }, timeoutMs = 120000) {
    const job = { runtime: language, code, limits: { wall_ms: 60000 } };
    const r = await (session
        ? brig.session(session).run(job, { timeoutMs })
        : brig.run(job, { timeoutMs }));
    const parts = [
        `status: ${r.status}${r.exit_code !== undefined ? ` (exit ${r.exit_code})` : ""}`,
    ];
    if (r.stdoutText) parts.push(`stdout:\n${cut(r.stdoutText)}`);
    if (r.stderrText) parts.push(`stderr:\n${cut(r.stderrText)}`);
    for (const o of r.outputs)
        if (o.text !== undefined && !o.image) parts.push(`${o.kind}: ${cut(o.text)}`);
    if (r.exception)
        parts.push(
            `${r.exception.name}: ${r.exception.value ?? ""}\n${r.exception.traceback.join("\n")}`,
        );
    if (r.error) parts.push(`error: ${r.error}`);
    const images = r.images.map(({ mime, data }) => ({
        mime,
        base64: Buffer.from(data).toString("base64"),
    }));
    return { text: parts.join("\n"), images };
}

/** The messages that answer an OpenAI tool call: the tool message (text
 * only, as the API takes it) and, when the code drew something, a user
 * message carrying the images. */
export async function handleOpenAI(brig, call) {
    const { text, images } = await runCode(brig, JSON.parse(call.function.arguments));
    const messages = [{ role: "tool", tool_call_id: call.id, content: text }];
    if (images.length)
        messages.push({
            role: "user",
            content: [
                { type: "text", text: `The images run_code call ${call.id} produced:` },
                ...images.map((i) => ({
                    type: "image_url",
                    image_url: { url: `data:${i.mime};base64,${i.base64}` },
                })),
            ],
        });
    return messages;
}

/** The tool_result block that answers an Anthropic tool_use block. */
export async function handleAnthropic(brig, block) {
    const { text, images } = await runCode(brig, block.input);
    return {
        type: "tool_result",
        tool_use_id: block.id,
        content: [
            { type: "text", text },
            ...images.map((i) => ({
                type: "image",
                source: { type: "base64", media_type: i.mime, data: i.base64 },
            })),
        ],
    };
}
