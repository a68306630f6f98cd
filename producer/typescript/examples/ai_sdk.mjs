// The "execute code" tool for the Vercel AI SDK (the `ai` package): tool()
// with a zod schema, run on a long-lived Brig; the model reads the text back
// and sees the images a cell drew.
//
//     import { generateText, stepCountIs } from "ai";
//     const brig = new Brig();
//     await generateText({ model, tools: { run_code: runCodeTool(brig) }, stopWhen: stepCountIs(5), prompt });
import { tool } from "ai";
import { z } from "zod";

import { runCode } from "./code_tool.mjs";

export function runCodeTool(brig) {
    return tool({
        description:
            "Run code in a sandbox and return its output. Jobs of the same session share files and, for Python, variables.",
        inputSchema: z.object({
            language: z.enum(["python", "javascript", "typescript", "bash", "r"]),
            code: z.string().describe("the program to run"),
            session: z
                .string()
                .optional()
                .describe("a name to keep files and variables across calls"),
        }),
        execute: (input) => runCode(brig, input),
        toModelOutput: ({ output }) => ({
            type: "content",
            value: [
                { type: "text", text: output.text },
                ...output.images.map((i) => ({ type: "media", data: i.base64, mediaType: i.mime })),
            ],
        }),
    });
}
