/**
 * The errors the client throws. Every one is a BrigError, so that a caller
 * can catch the client's failures apart from its own.
 */

/** Anything that went wrong in the brig client. */
export class BrigError extends Error {
    constructor(message: string, options?: { cause?: unknown }) {
        super(message, options);
        this.name = new.target.name;
    }
}

/** A job the client refuses to send. `field` names the culprit as SCHEMA.md
 * section 2 writes it (`limits.wall_ms`, `env["PATH"]`), empty for the job
 * as a whole; `reason` starts with the schema's keyword. */
export class InvalidJob extends BrigError {
    constructor(
        readonly field: string,
        readonly reason: string,
    ) {
        super(field ? `${field}: ${reason}` : reason);
    }
}

/** A message from Kafka that breaks the wire schema; `field` and `reason` as
 * in InvalidJob. */
export class SchemaError extends BrigError {
    constructor(
        readonly field: string,
        readonly reason: string,
    ) {
        super(field ? `${field}: ${reason}` : reason);
    }
}

/** No broker was given and no embedded broker published its address. */
export class BrokerNotFound extends BrigError {}

/** The Kafka cluster did not answer in time, or refused this client (its
 * credentials, its certificate, its ACLs). */
export class BrokerUnreachable extends BrigError {}

/** The answer did not come in time. `jobId` says which job, so that the
 * caller may wait for it again while it is still watched. */
export class JobTimeout extends BrigError {
    constructor(
        message: string,
        readonly jobId: string,
    ) {
        super(message);
    }
}

/** The client was closed, or its result reader stopped on an error. */
export class ClientClosed extends BrigError {}
