// Loads a GGUF with node-llama-cpp (llama.cpp) and prints greedy text as one JSON line.
//   node generate.mjs MODEL.gguf PROMPT MAX_TOKENS
import {getLlama, LlamaCompletion} from "node-llama-cpp";

const [modelPath, prompt, maxTokens] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 128});
const completion = new LlamaCompletion({contextSequence: context.getSequence()});
const text = await completion.generateCompletion(prompt, {maxTokens: Number(maxTokens), temperature: 0});
console.log(JSON.stringify({tensors: model.fileInfo.tensorInfo.length, text}));
await llama.dispose();
