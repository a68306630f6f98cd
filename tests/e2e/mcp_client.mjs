// mcp_client.py's protocol on the official TypeScript SDK
// (@modelcontextprotocol/sdk: Client over StdioClientTransport or
// StreamableHTTPClientTransport), so that brig mcp is also tested by a client
// of another language. NODE_PATH names the node_modules that hold the SDK.
//
//   node mcp_client.mjs stdio PROGRAM [ARG...] | http URL [TOKEN]
//
// Requests and answers are JSON lines, as in mcp_client.py.
import { createRequire } from "node:module";
import * as readline from "node:readline";

const require = createRequire(process.env.NODE_PATH + "/");
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const { StreamableHTTPClientTransport } =
    require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [mode, target, ...rest] = process.argv.slice(2);
const transport = mode === "stdio"
    ? new StdioClientTransport({ command: target, args: rest, env: process.env })
    : new StreamableHTTPClientTransport(new URL(target), {
        requestInit: rest.length ? { headers: { Authorization: `Bearer ${rest[0]}` } } : {},
    });
const client = new Client({ name: "brig-test-ts", version: "1.0.0" });
await client.connect(transport);

function block(item) {
    if (item.type === "text") return { type: "text", text: item.text };
    if (item.type === "image") return { type: "image", mime_type: item.mimeType, data: item.data };
    return { type: item.type };
}

async function call(request) {
    const progress = [];
    const abort = new AbortController();
    const started = performance.now();
    const options = { signal: abort.signal, timeout: 300000, resetTimeoutOnProgress: true };
    if (request.progress) {
        options.onprogress = ({ message }) => {
            progress.push(message);
            if (request.cancel_on && message && message.includes(request.cancel_on)) abort.abort();
        };
    }
    try {
        const result = await client.callTool(
            { name: request.name, arguments: request.arguments || {} }, undefined, options);
        return { content: result.content.map(block), structured: result.structuredContent,
                 is_error: !!result.isError, cancelled: false, progress,
                 ms: performance.now() - started };
    } catch (error) {
        if (!abort.signal.aborted) throw error;
        return { cancelled: true, progress, ms: performance.now() - started };
    }
}

for await (const line of readline.createInterface({ input: process.stdin })) {
    const request = JSON.parse(line);
    let answer;
    if (request.op === "tools") {
        const listed = await client.listTools();
        answer = { tools: listed.tools.map((t) => ({ name: t.name, description: t.description,
                                                     input_schema: t.inputSchema,
                                                     output_schema: t.outputSchema })) };
    } else {
        answer = await call(request);
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
}
await client.close();
