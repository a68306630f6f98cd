/**
 * brig-client: run untrusted code in brig's sandbox workers through Kafka.
 *
 *     import { Brig } from "brig-client";
 *     const brig = new Brig({ brokers: "localhost:9092" });
 *     const result = await brig.run({ runtime: "python", code: "print(6 * 7)" });
 *     console.log(result.status, result.stdoutText);
 *     await brig.close();
 */
export { Brig, type BrigOptions, Session, type WaitOptions } from "./client.js";
export {
    BrigError,
    BrokerNotFound,
    BrokerUnreachable,
    ClientClosed,
    InvalidJob,
    JobTimeout,
    SchemaError,
} from "./errors.js";
export { IMAGE_TYPES, Output } from "./wire/display.js";
export {
    type Job,
    type JobSpec,
    type LimitName,
    type Limits,
    LIMITS,
    SCHEMA_VERSION,
    decodeJob,
    encodeJob,
    newJobId,
} from "./wire/job.js";
export {
    type Control,
    type DeadLetter,
    type LogChunk,
    type RuntimeInfo,
    type Stream,
    type WorkerRuntimes,
    decodeControl,
    decodeDeadLetter,
    decodeLogChunk,
    decodeRuntimes,
    encodeCancel,
} from "./wire/messages.js";
export {
    type CellException,
    type Interpreter,
    type ResultFields,
    type Status,
    type Usage,
    Result,
    STATUSES,
    decodeResult,
} from "./wire/result.js";
export { type LogsOptions, type OutputChunk } from "./pool.js";
export { discoverBrokers, stateDir } from "./kafka/discover.js";
export { readProperties } from "./kafka/properties.js";
export { Signer, type SignatureHeaders, loadKey, signingInput } from "./sign.js";
