// llama.cpp (node-llama-cpp) side of benchmarks/llm.lua: prefill the given token ids, then decode
// greedily; prints one JSON line {prefill_s, decode_tokens, decode_s}.
//   node llm_llamacpp.mjs MODEL.gguf IDS_JSON DECODE_TOKENS THREADS
import {getLlama} from "node-llama-cpp";
import {readFileSync} from "node:fs";

const [modelPath, idsPath, decodeTokens, threads] = process.argv.slice(2);
const ids = JSON.parse(readFileSync(idsPath, "utf8"));
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath, useMmap: true});
const context = await model.createContext({contextSize: 1024, batchSize: 1024, threads: Number(threads)});
const seq = context.getSequence();
const t0 = performance.now();
let first = null, n = 0;
for await (const token of seq.evaluate(ids, {temperature: 0})) {
    if (first === null) first = performance.now();
    if (++n >= Number(decodeTokens) + 1) break;
}
const t1 = performance.now();
console.log(JSON.stringify({prefill_s: (first - t0) / 1e3, decode_tokens: n - 1, decode_s: (t1 - first) / 1e3}));
await llama.dispose();
