/**
 * A cell's rich results (SCHEMA.md section 6.1): each output a MIME bundle,
 * the same thing in one or more types, as Jupyter's display data.
 */
import { BrigError } from "../errors.js";

const loose = new TextDecoder("utf-8");

/** The image types a model takes in a tool result. */
export const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"] as const;

/** One output of a cell: `kind` is "display" (something the cell displayed:
 * a figure, display()) or "result" (the value of its last expression); other
 * kinds may come from newer workers. */
export class Output {
    constructor(
        readonly kind: string,
        /** MIME type -> the raw bytes (not base64). */
        readonly data: Map<string, Uint8Array>,
    ) {}

    get mimeTypes(): string[] {
        return [...this.data.keys()];
    }

    /** The bytes of one type, as UTF-8 text. */
    textOf(mime: string): string | undefined {
        const b = this.data.get(mime);
        return b === undefined ? undefined : loose.decode(b);
    }

    /** text/plain: the interpreter's text form, present whenever it has one. */
    get text(): string | undefined {
        return this.textOf("text/plain");
    }

    get html(): string | undefined {
        return this.textOf("text/html");
    }

    get markdown(): string | undefined {
        return this.textOf("text/markdown");
    }

    get svg(): string | undefined {
        return this.textOf("image/svg+xml");
    }

    get png(): Uint8Array | undefined {
        return this.data.get("image/png");
    }

    get jpeg(): Uint8Array | undefined {
        return this.data.get("image/jpeg");
    }

    /** The first raster image a model can take, png first. */
    get image(): { mime: string; data: Uint8Array } | undefined {
        const mime = IMAGE_TYPES.find((m) => this.data.has(m));
        return mime === undefined ? undefined : { mime, data: this.data.get(mime) as Uint8Array };
    }

    /** application/json parsed; undefined when the bundle has none. */
    json(): unknown {
        const text = this.textOf("application/json");
        if (text === undefined) return undefined;
        try {
            return JSON.parse(text);
        } catch (e) {
            throw new BrigError(
                `an output's application/json is not JSON: ${(e as Error).message}`,
            );
        }
    }
}
